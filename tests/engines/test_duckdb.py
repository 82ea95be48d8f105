"""The embedded engine's own edges."""

import ibis

from healthanalytics.config import Settings
from healthanalytics.engines import create_engine


def test_stored_tables_keep_the_types_ibis_declares(tmp_path):
    engine = create_engine(Settings(temp_directory=str(tmp_path)))
    try:
        lines = ibis.memtable({"n": [1, 2, 3], "k": ["x", "y", "x"]})
        summed = lines.group_by("k").aggregate(total=lines.n.sum())  # DuckDB: a HUGEINT
        stored = engine.materialize(summed, "summed")
        assert stored.schema() == summed.schema()
        assert engine.to_arrow(stored.order_by("k")).to_pylist() == [
            {"k": "x", "total": 4},
            {"k": "y", "total": 2},
        ]
    finally:
        engine.close()
