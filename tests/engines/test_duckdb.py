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


def test_scratch_folders_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    import os

    from healthanalytics.engines.duckdb import make_scratch
    from healthanalytics.io.locks import take_lock

    dead = tmp_path / "healthanalytics-dead0001"  # its lock file is held by nobody
    (dead / "spill").mkdir(parents=True)
    (dead / ".lock").touch()
    unknown = tmp_path / "healthanalytics-older01"  # no lock file: an older release's, say
    unknown.mkdir()
    alive = tmp_path / "healthanalytics-alive001"  # held, as a running engine holds its own
    alive.mkdir()
    held = take_lock(alive / ".lock")
    try:
        engine = create_engine(Settings(temp_directory=str(tmp_path)))
        (own,) = set(tmp_path.iterdir()) - {unknown, alive}
        assert sorted(p.name for p in own.iterdir()) == [".lock"]
        # a second engine beside it leaves the first one's scratch alone
        folder, lock = make_scratch(str(tmp_path))
        assert own.exists()
        os.close(lock)
        engine.close()
        assert sorted(tmp_path.iterdir()) == sorted([unknown, alive, folder])
    finally:
        os.close(held)
