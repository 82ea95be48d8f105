"""The stages of a run, in the order `pipeline.run_pipeline` calls them: each a function with
typed inputs and a typed result. Transforms compute; stages wire transforms to adapters."""
