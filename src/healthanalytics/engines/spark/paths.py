"""Paths as Spark is given them: local ones pinned to file://, Hadoop's glob characters escaped."""

from __future__ import annotations

import re
from pathlib import Path

_GLOB = re.compile(r"[\\*?\[\]{}]")


def spark_uri(path: str) -> str:
    """A path as Spark is given it: local paths pinned to file:// so that a cluster whose
    default file system is HDFS does not look for them there."""
    if "://" in path:
        return path
    return "file://" + str(Path(path).absolute())


def spark_path(path: str) -> str:
    """A path Spark reads as given (`spark_uri`), Hadoop's glob characters escaped: Spark
    reads every path as a glob, so `x[1].csv` would read `x1.csv` beside it."""
    return glob_escaped(spark_uri(path))


def glob_escaped(path: str) -> str:
    """`path` with Hadoop's glob characters (`*?[]{}` and the backslash) escaped: Spark takes
    every path it reads as a glob."""
    return _GLOB.sub(lambda found: "\\" + found.group(), path)


def glob_unescaped(path: str) -> str:
    return re.sub(r"\\(.)", r"\1", path)
