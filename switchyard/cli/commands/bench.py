"""``switchyard bench``: baseline vs routed vs routed+cache vs oracle, on one workload, one process."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from switchyard.bench import MAX_CONCURRENCY, MAX_REQUESTS, MAX_SEEDS

if TYPE_CHECKING:
    from switchyard.core.settings import Settings


def register(app: typer.Typer) -> None:
    @app.command()
    def bench(
        requests: Annotated[int | None, typer.Option("--requests", "-n", min=1, max=MAX_REQUESTS,
                                                     help="Requests in the workload (default: 200, or the concurrency if larger; "
                                                          f"at most {MAX_REQUESTS:,}).")] = None,
        concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=MAX_CONCURRENCY,
                                                 help=f"Requests kept in flight (at most {MAX_CONCURRENCY:,}).")] = 200,
        mix: Annotated[str, typer.Option(help="Share of low,medium,high complexity (true labels).")] = "0.65,0.30,0.05",
        seed: Annotated[int, typer.Option(help="Workload seed (same seed, same workload).")] = 7,
        seeds: Annotated[str | None, typer.Option(
            "--seeds", help="Several workload seeds, e.g. 7,1,2,3,4: one bench each, then the median "
                            "and range of the headline figures (reports under --out/seed-N/).")] = None,
        daily_volume: Annotated[int, typer.Option("--daily-volume", min=1,
                                                  help="Requests/day for the daily and monthly projection.")] = 25_000,
        time_scale: Annotated[float, typer.Option("--time-scale", min=0.001, max=1.0,
                                                  help="Shrink simulated model time by this factor for quick runs (1 = real profiles).")] = 1.0,
        data: Annotated[Path | None, typer.Option("--data", help="Labelled JSONL to draw from (default: the held-out test split).")] = None,
        out: Annotated[Path, typer.Option("--out", help="Directory for report.json, report.md, chart.png.")] = Path(".switchyard/bench"),
        as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
        trace: Annotated[bool, typer.Option("--trace/--no-trace", help="Send bench runs to LangSmith (off by default: thousands of runs).")] = False,
        live: Annotated[bool, typer.Option("--live", help="Send the workload to the configured real endpoints (costs money; shows an estimate first).")] = False,
        yes: Annotated[bool, typer.Option("--yes", help="With --live: spend the estimated amount without asking.")] = False,
    ) -> None:
        """Measure cost, latency, tier mix and cache hits of four configurations (a simulation),
        or, with --live, of the routed graph against the configured endpoints."""
        if not trace:
            os.environ["LANGSMITH_TRACING"] = "false"
            os.environ["LANGCHAIN_TRACING_V2"] = "false"
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        from switchyard.bench.report import (
            CONFIG_LABELS,
            render_rich,
            render_seed_summary,
            seed_summary,
        )
        from switchyard.bench.run import run_bench, write_outputs
        from switchyard.bench.workload import build_workload, parse_mix

        err = Console(stderr=True)
        try:
            shares = parse_mix(mix)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--mix") from exc
        n = requests or max(200, concurrency)
        try:
            seed_list = [int(x) for x in seeds.split(",") if x.strip()] if seeds is not None else [seed]
        except ValueError as exc:
            raise typer.BadParameter("seeds are integers separated by commas, e.g. 7,1,2", param_hint="--seeds") from exc
        if not seed_list or len(set(seed_list)) != len(seed_list):
            raise typer.BadParameter("give at least one seed, each once", param_hint="--seeds")
        if len(seed_list) > MAX_SEEDS:
            raise typer.BadParameter(f"at most {MAX_SEEDS} seeds (got {len(seed_list)})",
                                     param_hint="--seeds")
        # The whole --data file is checked before anything is built or written.
        rows = _load_or_exit(data, shares) if data is not None else None
        from switchyard.app import Switchyard

        sy = Switchyard()  # the bench opens its own front doors, one per configuration
        settings = sy.settings
        test_split = settings.routing_data_dir / "test.jsonl"
        if data is None and not test_split.is_file():
            typer.echo(f"error: the bench draws its workload from the domain pack's held-out "
                       f"split {test_split}, which does not exist; fix: add test.jsonl (labelled "
                       "requests kept out of training) there, or pass --data FILE", err=True)
            raise typer.Exit(1)
        if live:
            _live(settings, requests or 20, min(concurrency, 8), shares, seed, rows, data, out,
                  as_json, yes)
            return
        # Checked before the run, not after it: the results are never lost to a bad --out.
        _check_out(out, ([f"seed-{s}/report.json" for s in seed_list] + ["seeds.json"])
                   if len(seed_list) > 1 else ["report.json"])
        # Users come from the seeded customer database (built by the bench's set-up step).
        # (index and classifier are prepared by the bench itself, against a throw-away cache).
        with err.status("preparing the customer database..."):
            sy.database.seed()
        progress = Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=err, transient=False)
        reports: dict[int, dict] = {}
        with progress:
            for s in seed_list:
                workload = build_workload(n, settings=settings, mix=shares, seed=s, rows=rows,
                                          source=str(data) if data else str(test_split))

                def start(name: str, total: int, s: int = s) -> Callable[[], None]:
                    label = CONFIG_LABELS[name] + (f" (seed {s})" if len(seed_list) > 1 else "")
                    task = progress.add_task(label, total=total)
                    return lambda: progress.advance(task)

                results: dict = {}
                report = asyncio.run(run_bench(workload, settings=settings, concurrency=concurrency,
                                               daily_volume=daily_volume, time_scale=time_scale,
                                               progress=start, results_sink=results))
                paths = write_outputs(report, out / f"seed-{s}" if len(seed_list) > 1 else out, results, workload)
                reports[s] = report
        if len(seed_list) > 1:
            summary = seed_summary(reports)
            out.mkdir(parents=True, exist_ok=True)
            (out / "seeds.json").write_text(json.dumps(summary, indent=1))
            if as_json:
                typer.echo(json.dumps({**summary, "reports": reports}, default=str))
                return
            render_seed_summary(summary, Console())
            Console().print(f"\n[dim]per-seed reports under {out}/seed-N/, summary {out / 'seeds.json'}[/]")
            return
        if as_json:
            typer.echo(json.dumps(report, default=str))
            return
        console = Console()
        render_rich(report, console)
        if time_scale != 1.0:
            console.print(f"[yellow]time scale {time_scale}: model time re-inflated, queueing "
                          "under the tier caps compressed; use 1.0 for figures of record[/]")
        console.print(f"\n[dim]report {paths['md']}  json {paths['json']}  chart {paths['chart']}[/]")


def _load_or_exit(path: Path, shares: tuple[float, float, float]) -> object:
    """The ``--data`` rows, or every bad line listed (one a line of output), exit 2."""
    from switchyard.bench.workload import BenchDataError, load_rows
    from switchyard.cli.params import refuse_file

    try:
        return load_rows(path, mix=shares)
    except BenchDataError as exc:
        refuse_file(f"--data {path} cannot be used; nothing was run or written:", exc.problems)


def _check_out(out: Path, names: list[str]) -> None:
    """``--out`` is a folder the reports can be written to: made, and a file created and removed
    in each folder the run writes, before the run (``typer.BadParameter`` otherwise)."""
    from switchyard.cli.overlay import writable_target

    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} exists and is not a folder", param_hint="--out")
    for name in names:
        try:
            writable_target(out / name, "the report")
        except typer.BadParameter as exc:
            raise typer.BadParameter(exc.message, param_hint="--out") from None


def _live(settings: Settings, n: int, concurrency: int, shares: tuple[float, float, float],
          seed: int, rows: object, data: Path | None, out: Path, as_json: bool, yes: bool) -> None:
    """The live bench: an estimate, then (with --yes) the run and its report."""
    from rich.console import Console

    from switchyard.bench.live import estimate, run_live, to_markdown
    from switchyard.bench.workload import build_workload
    from switchyard.tools.database import CustomerDatabase

    if settings.use_offline_model:
        typer.echo("error: --live needs a configured endpoint (OPENAI_API_KEY, OPENAI_BASE_URL or a "
                   "tier's base_url); without one every tier is the offline model.", err=True)
        raise typer.Exit(code=2)
    CustomerDatabase.for_settings(settings).seed()
    workload = build_workload(n, settings=settings, mix=shares, seed=seed,
                              rows=rows,  # type: ignore[arg-type]
                              source=str(data) if data else str(settings.routing_data_dir / "test.jsonl"))
    plan = estimate(workload, settings)
    err = Console(stderr=True)
    err.print(f"live bench: {plan['requests']} requests to {plan['endpoints']} "
              f"(models {plan['models']}), estimated cost ${plan['estimated_cost_usd']:.4f} "
              "at list prices")
    if not yes:
        err.print("[yellow]nothing sent: add --yes to run it and spend that amount[/]")
        raise typer.Exit(code=1)
    _check_out(out, ["live-report.json"])
    report = asyncio.run(run_live(workload, settings, concurrency=concurrency))
    report["estimate"] = plan
    out.mkdir(parents=True, exist_ok=True)
    (out / "live-report.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "live-report.md").write_text(to_markdown(report, plan))
    if as_json:
        typer.echo(json.dumps(report, default=str))
        return
    Console().print(to_markdown(report, plan))
    Console().print(f"[dim]report {out / 'live-report.md'}  json {out / 'live-report.json'}[/]")
