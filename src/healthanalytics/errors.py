"""Turning an exception into the one line a user reads."""

from __future__ import annotations

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
    if module != "healthanalytics" and not isinstance(err, (OSError, ValueError)):
        message = f"{type(err).__name__}: {message} (run with -v for the traceback)"
    return mask_url(message)


def _problem(error: dict) -> str:
    """One validation error: the setting's name (none for a check across settings), then what
    is wrong, without pydantic's "Value error, " in front of our own messages."""
    message = error["msg"].removeprefix("Value error, ")
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {message}" if where else message
