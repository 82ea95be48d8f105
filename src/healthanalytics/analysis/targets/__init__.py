"""Lookalike targeting (issue 15 item 8): features without market volume (Ibis), the model
and its evaluation (scikit-learn on the driver)."""
