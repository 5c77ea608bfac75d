"""``switchyard threads stats|prune``: size and retention of the conversation store."""

from __future__ import annotations

import json
import re
from typing import Annotated

import typer

from switchyard.cli.format import timestamp

threads_app = typer.Typer(help="Conversation store (SWITCHYARD_HOME/threads.sqlite): stats and "
                               "pruning.", no_args_is_help=True)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'90', '30m', '12h', '7d', '2w' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration such as 3600, 30m, 12h, 7d or 2w")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


@threads_app.command("stats")
def stats_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Threads, checkpoints, pending writes, bytes, oldest and newest activity."""
    from switchyard.core.settings import get_settings
    from switchyard.threads.retention import stats

    s = stats(get_settings().checkpoint_path)
    if as_json:
        typer.echo(json.dumps(s.to_dict(), indent=2))
        return
    typer.echo(f"path: {s.path}")
    typer.echo(f"threads: {s.threads:,}  checkpoints: {s.checkpoints:,}  writes: {s.writes:,}")
    typer.echo(f"payload bytes: {s.payload_bytes:,}  file bytes: {s.file_bytes:,}")
    typer.echo(f"oldest activity: {timestamp(s.oldest_activity)}  newest: {timestamp(s.newest_activity)}")


@threads_app.command("prune")
def prune_cmd(
    ttl: Annotated[str | None, typer.Option("--ttl", help="Delete threads idle longer than this "
                                            "(e.g. 7d); default: settings.threads.ttl_s.")] = None,
    max_threads: Annotated[int | None, typer.Option("--max-threads", min=0, help="Keep at most "
                           "this many (most recent); default: settings.threads.max_threads.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count only, delete nothing.")] = False,
    vacuum: Annotated[bool, typer.Option("--vacuum", help="Give freed space back to the disk.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Delete whole threads by TTL and by count (one transaction; the service may keep running)."""
    from switchyard.core.settings import get_settings
    from switchyard.threads.retention import prune

    settings = get_settings()
    cfg = settings.threads
    ttl_s = parse_duration(ttl) if ttl is not None else cfg.ttl_s
    keep = max_threads if max_threads is not None else cfg.max_threads
    result = prune(settings.checkpoint_path, ttl_s=ttl_s, max_threads=keep, dry_run=dry_run,
                   vacuum=vacuum)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        return
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"{verb} {result.threads_removed:,} thread(s) ({result.checkpoints_removed:,} "
               f"checkpoints, {result.writes_removed:,} writes); kept {result.threads_kept:,}")


def register(app: typer.Typer) -> None:
    app.add_typer(threads_app, name="threads")
