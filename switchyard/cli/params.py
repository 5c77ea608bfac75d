"""Option checks and refusals shared by commands."""

from __future__ import annotations

import os
from typing import NoReturn

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


def refuse_file(header: str, problems: list[str]) -> NoReturn:
    """Print why a file cannot be used (``header``, then every problem, one a line, capped) and
    exit 2."""
    from switchyard.classifier.outcomes import MAX_REPORTED

    typer.echo(f"error: {header}", err=True)
    for problem in problems[:MAX_REPORTED]:
        typer.echo(f"  {problem}", err=True)
    if len(problems) > MAX_REPORTED:
        typer.echo(f"  ... and {len(problems) - MAX_REPORTED} more", err=True)
    raise typer.Exit(2) from None
