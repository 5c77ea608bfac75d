"""``switchyard forget --user U``: delete everything held about one user."""

from __future__ import annotations

import json
import re
from typing import Annotated

import typer


def forget(
    user: Annotated[str, typer.Option("--user", help="The user id to forget.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Delete a user's cache entries, intent keys, conversation threads and checkpoints.

    On the deployment's stores: the embedded ones under SWITCHYARD_HOME, or PostgreSQL with
    SWITCHYARD_DATABASE_URL. The customer database's rows are the host's and stay. Run it with
    the deployment's SWITCHYARD_SECRET: the user's entries are found by its keyed hashes.
    """
    from switchyard.app import Switchyard
    from switchyard.service.schemas import ID_PATTERN

    if not re.fullmatch(ID_PATTERN, user):
        raise typer.BadParameter(f"{user!r} is not a user id (letters, digits and . _ : @ -)",
                                 param_hint="--user")
    from switchyard.app import ForgetIncomplete

    with Switchyard() as sy:
        try:
            counts = sy.forget(user)
        except ForgetIncomplete as exc:
            if as_json:  # one object, as on success: what was deleted, and what failed
                typer.echo(json.dumps({**exc.counts, "complete": False, "failed": exc.failed}))
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps({**counts, "complete": True}))
        return
    typer.echo(f"forgot {user} ({counts['backend']} stores): "
               f"{counts['cache_entries']:,} cache entries, {counts['intent_keys']:,} intent keys, "
               f"{counts['threads']:,} threads ({counts['checkpoints']:,} checkpoints)")


def register(app: typer.Typer) -> None:
    app.command("forget")(forget)
