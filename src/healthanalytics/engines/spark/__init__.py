"""The Spark engine: Ibis on PySpark. engines.create_engine is the one place that starts it.

engine.py (SparkEngine), session.py (the SparkSession and its settings), readers.py and csv.py
(CSV inputs read as DuckDB reads them), results.py (Arrow to the driver), writer.py (report
files), files.py (Hadoop file access from the driver), paths.py, errors.py (Spark's failures
as one line).
"""

from healthanalytics.engines.spark.engine import SparkEngine

__all__ = ["SparkEngine"]
