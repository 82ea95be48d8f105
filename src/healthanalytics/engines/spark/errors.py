"""Spark's and the JVM's failures as one EngineError line naming the file and what to do."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from py4j.protocol import Py4JError
from pyspark.errors import PySparkException

from healthanalytics.engines.base import EngineError
from healthanalytics.errors import first_line

_READ_FILE = re.compile(r"Encountered error while reading file (\S+?)\.?\s")
_MALFORMED = re.compile(r"Malformed CSV record: (.*?)(?: SQLSTATE|$)", re.MULTILINE)
_CAUSE = re.compile(r"^Caused by: (\S+: .*)$", re.MULTILINE)


def error_line(err: BaseException) -> str:
    """The first line of the error's text, or its repr when it has none."""
    return first_line(str(err)) or repr(err)


@contextlib.contextmanager
def spark_errors() -> Iterator[None]:
    """Spark's failures as one line naming the file and what to do."""
    try:
        yield
    except (PySparkException, Py4JError) as err:
        raise engine_error(err) from err


def engine_error(err: Exception) -> EngineError:
    """A Spark failure as one line naming the file and what to do, without Java's stack."""
    text = str(err)
    read = _READ_FILE.search(text)
    where = read[1].removeprefix("file://") if read else None
    if malformed := _MALFORMED.search(text):
        return EngineError(
            f"{where or 'fact file'}: malformed CSV row ({malformed[1].strip()[:120]}); "
            "fix or remove that row"
        )
    causes = _CAUSE.findall(text)
    reason = causes[-1] if causes else error_line(err)
    if where:
        return EngineError(f"Spark could not read {where}: {reason}")
    return EngineError(f"the Spark engine failed: {reason}")
