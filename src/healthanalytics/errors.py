"""Turning an exception into the one line a user reads."""

from __future__ import annotations

import re

from pydantic import ValidationError

from healthanalytics.io.warehouse import mask_url


def first_line(text: str) -> str:
    """The first line of the text that is not blank, stripped ("" when none)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def user_error_message(err: BaseException) -> str:
    """One line naming what failed and what to do; passwords masked."""
    if isinstance(err, ValidationError):
        return "invalid settings: " + "; ".join(_problem(e) for e in err.errors())
    message = first_line(str(err)) or type(err).__name__
    module = type(err).__module__.split(".")[0]
    if module in ("duckdb", "_duckdb"):
        message = (
            duckdb_csv_problem(str(err))
            or f"the DuckDB engine could not process the input: {message}"
        )
    elif module == "healthanalytics" or isinstance(err, (OSError, ValueError)):
        pass
    else:
        message = f"{type(err).__name__}: {message} (run with -v for the traceback)"
    return mask_url(message)


def _problem(error: dict) -> str:
    """One validation error: the setting's name (none for a check across settings), then what
    is wrong, without pydantic's "Value error, " in front of our own messages."""
    message = error["msg"].removeprefix("Value error, ")
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {message}" if where else message


def duckdb_csv_problem(text: str) -> str | None:
    """A DuckDB CSV error as `file: line N: what (the row); what to do`, or None."""
    line = re.search(r"CSV Error on Line: (\d+)", text)
    if not line:
        return None
    file = re.search(r"^\s*file\s*=\s*(.+)$", text, re.MULTILINE)
    columns = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    row = re.search(r"^Original Line: (.*)$", text, re.MULTILINE)
    # DuckDB states the problem after the row it quotes (which may run over several lines)
    # and before its advice and reader options
    told = re.split(r"\n\s*(?:Possible|file\s*=)", text[row.end() :] if row else "", maxsplit=1)
    reason = next((line.strip() for line in reversed(told[0].splitlines()) if line.strip()), "")
    what = f"expected {columns[1]} columns, found {columns[2]}" if columns else reason
    where = file[1].strip() if file else "fact file"
    shown = f" ({row[1].strip()[:120]})" if row else ""
    remedy = "save the file as UTF-8" if "utf-8" in what.lower() else "fix or remove that row"
    return f"{where}: line {line[1]}: {what or 'malformed row'}{shown}; {remedy}"
