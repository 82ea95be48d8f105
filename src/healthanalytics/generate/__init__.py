"""Synthetic CMS Medicare Part D "prescribers by provider and drug" files, realistic and fast.

    from healthanalytics.generate import generate_prescriptions
    summary = generate_prescriptions(25_000_000, "course_25m.csv", layout="course", seed=42)

Rows come in chunks built with whole-array NumPy/Arrow code (optionally in worker processes)
and are streamed to a temporary file renamed into place at the end. The same
(rows, layout, fmt, seed, dirty_rate) always gives the same bytes.

The data carries the market structure real data has (`structure.py`): specialties that write
mostly in their therapeutic areas, a prescriber propensity that makes claims per prescriber
heavy-tailed and ties a prescriber's volume in one class to its volume and breadth in others,
and brand uptake that varies by Census region and by prescriber.

The bundled sample `data/prescriber_fact_100k.csv.gz` is this generator's output, the planted
structure included; after a change to the generator, make it again (in `src/healthanalytics/data`)
with:

    healthanalytics generate --rows 100000 --seed 2026 --out prescriber_fact_100k.csv.gz

that is `generate_prescriptions(100_000, "prescriber_fact_100k.csv.gz", layout="course",
fmt="csv", seed=2026, dirty_rate=0.005)`: the course layout and the dirty rate are the defaults.
"""

from healthanalytics.generate.writer import GenerateSummary, generate_prescriptions

__all__ = ["GenerateSummary", "generate_prescriptions"]
