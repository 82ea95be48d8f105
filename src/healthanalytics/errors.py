"""Turning an exception into the one line a user reads."""

from __future__ import annotations

from pydantic import ValidationError

from healthanalytics.io.warehouse import mask_url


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def user_error_message(err: BaseException) -> str:
    """One line naming what failed and what to do; passwords masked."""
    if isinstance(err, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in err.errors()
        )
        return f"invalid settings: {problems}"
    message = _first_line(str(err)) or type(err).__name__
    module = type(err).__module__.split(".")[0]
    if module in ("duckdb", "_duckdb"):
        message = f"the DuckDB engine could not process the input: {message}"
        detail = _csv_detail(str(err))
        if detail:
            message = f"{message} ({detail})"
    elif module == "healthanalytics" or isinstance(err, (OSError, ValueError)):
        pass
    else:
        message = f"{type(err).__name__}: {message} (run with -v for the traceback)"
    return mask_url(message)


def _csv_detail(text: str) -> str:
    """The file/line lines of a DuckDB CSV error, joined on one line."""
    keep = [
        line.strip()
        for line in text.splitlines()
        if line.strip().startswith(("file=", "Line", "Original Line"))
    ]
    return " ".join(keep)[:300]
