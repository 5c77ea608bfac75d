"""Option checks shared by commands."""

from __future__ import annotations

import os

import typer


def utf8_text(value: str | None) -> str | None:
    """A typer ``callback``: a value that is not UTF-8 text (its bytes reach Python as lone
    surrogates) is a usage error now, not an "unexpected UnicodeEncodeError" wherever it is
    first written or hashed."""
    if value is not None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise typer.BadParameter(f"{os.fsencode(value)!r} is not valid UTF-8 text") from None
    return value
