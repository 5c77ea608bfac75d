"""``switchyard plan``: the MULTI-AGENT SCALING PLAN from a traffic log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def plan(
        log: Annotated[Path | None, typer.Option("--log", exists=True, dir_okay=False, readable=True,
                                                 help="JSONL traffic log: {\"text\", \"user_id\"?, \"ts\"?} per line "
                                                      "(default: the domain pack's paths.sample_traffic).")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Write the plan (markdown) here; default: print it.")] = None,
        daily_volume: Annotated[int | None, typer.Option("--daily-volume", min=1,
                                                         help="Requests/day for the projection (default: from the log).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the plan's numbers as one JSON object.")] = False,
    ) -> None:
        """Classify a traffic log and fill in the article's MULTI-AGENT SCALING PLAN template."""
        from rich.console import Console

        from switchyard.app import Switchyard
        from switchyard.bench.plan import plan_from_log
        from switchyard.cli.main import pack_data_file

        err = Console(stderr=True)
        if out is not None:
            from switchyard.cli.overlay import same_file, writable_target

            if log is not None and same_file(log, out):
                raise typer.BadParameter(f"--out {out} is the --log file; writing the plan "
                                         "would erase the log", param_hint="'--out'")
            out = writable_target(out, "--out")  # a directory or unwritable folder: refused now
        sy = Switchyard()
        log = pack_data_file(sy.settings, "sample_traffic", log)
        with err.status(f"classifying {log} ..."):
            data, markdown = plan_from_log(log, sy.classifier, sy.settings,
                                           daily_volume=daily_volume)
        for s in data["skipped"][:20]:
            err.print(f"[yellow]skipped line {s['line']}:[/] {s['reason']}")
        if len(data["skipped"]) > 20:
            err.print(f"[yellow]... {len(data['skipped']) - 20} more malformed lines skipped[/]")
        if out:
            out.write_text(markdown, encoding="utf-8")
            err.print(f"plan written to {out} ({data['requests']} requests classified)")
        if as_json:
            typer.echo(json.dumps(data, default=str))
        elif not out:
            typer.echo(markdown)
