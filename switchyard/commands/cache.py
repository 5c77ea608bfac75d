"""``switchyard cache``: inspect, clear, probe and calibrate the semantic cache."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

cache_app = typer.Typer(
    help="Semantic cache: stats, clear, probe and calibrate.", no_args_is_help=True
)


def _ts(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@cache_app.command("stats")
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Entries, bytes, partitions, hit/miss counters, oldest/newest entry."""
    from rich.console import Console
    from rich.table import Table

    from switchyard.cache import get_cache

    s = get_cache().stats()
    if as_json:
        typer.echo(json.dumps(s, indent=2))
        return
    table = Table(title=f"semantic cache ({s['path']})", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    lim = s["limits"]
    table.add_row("entries", f"{s['entries']:,} / {lim['max_entries']:,}")
    table.add_row("bytes", f"{s['bytes']:,} / {lim['max_bytes']:,}")
    table.add_row("expired, pending purge", f"{s['expired_pending_purge']:,}")
    table.add_row("partitions", f"{s['partitions']:,}")
    table.add_row(
        "  public", f"{s['public']['partitions']:,} partitions, {s['public']['entries']:,} entries"
    )
    table.add_row(
        "  per user", f"{s['user']['partitions']:,} partitions, {s['user']['entries']:,} entries"
    )
    table.add_row("oldest entry", _ts(s["oldest_created_at"]))
    table.add_row("newest entry", _ts(s["newest_created_at"]))
    table.add_row("next expiry", _ts(s["soonest_expiry"]))
    for name, value in s["counters"].items():
        table.add_row(name.replace("_", " "), f"{value:,}")
    table.add_row("hit rate", "-" if s["hit_rate"] is None else f"{s['hit_rate']:.1%}")
    table.add_row("similarity threshold", f"{lim['similarity_threshold']:.2f}")
    table.add_row("eviction", lim["eviction"])
    Console().print(table)


@cache_app.command("clear")
def clear(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's partition.")] = None,
    intent: Annotated[
        str | None, typer.Option("--intent", help="Only entries of this intent.")
    ] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
) -> None:
    """Delete entries (all, or filtered by user / intent / tenant; filters combine with AND)."""
    from switchyard.cache import get_cache

    n = get_cache().clear(user_id=user, intent=intent, tenant=tenant)
    what = ", ".join(
        f"{k}={v}" for k, v in (("user", user), ("intent", intent), ("tenant", tenant)) if v
    )
    typer.echo(f"cleared {n} entr{'y' if n == 1 else 'ies'}" + (f" ({what})" if what else ""))


def _open_out(out: Path | None) -> Any:
    return out.open("w", encoding="utf-8") if out else sys.stdout


@cache_app.command("probe")
def probe(
    pairs: Annotated[
        Path, typer.Option("--pairs", exists=True, dir_okay=False, help='JSONL {"id","a","b"}.')
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write JSONL here instead of stdout.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Add the verdict reason.")] = False,
) -> None:
    """Store ``a``, look up ``b`` (same user, own partition, default settings); print hit + similarity."""
    from switchyard.cache.calibration import PairOutcome, read_pairs, run_pairs
    from switchyard.settings import get_settings

    results = run_pairs(read_pairs(pairs, need_label=False), get_settings().cache)
    fh = _open_out(out)
    try:
        for r in results:
            if isinstance(r, PairOutcome):
                row: dict[str, Any] = {
                    "id": r.id,
                    "hit": r.hit,
                    "similarity": None if r.similarity is None else round(r.similarity, 4),
                }
                if verbose:
                    row["reason"] = r.reason
            else:
                row = r
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if out:
            fh.close()


@cache_app.command("calibrate")
def calibrate(
    pairs: Annotated[
        Path,
        typer.Option("--pairs", exists=True, dir_okay=False, help='JSONL {"id","a","b","label"}.'),
    ],
    max_false_hit_rate: Annotated[
        float, typer.Option("--max-false-hit-rate", help="Budget for the suggested threshold.")
    ] = 0.01,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Precision, false-hit rate and hit rate across thresholds (guard on vs raw cosine)."""
    from rich.console import Console
    from rich.table import Table

    from switchyard.cache.calibration import (
        PairOutcome,
        best_threshold,
        default_grid,
        figures,
        read_pairs,
        run_pairs,
    )
    from switchyard.settings import get_settings

    settings = get_settings().cache
    default_t = settings.similarity_threshold
    results = run_pairs(read_pairs(pairs, need_label=True), settings, threshold=-1.0)
    errors = [r for r in results if not isinstance(r, PairOutcome)]
    outcomes = [r for r in results if isinstance(r, PairOutcome)]
    grid = sorted(set(default_grid()) | {round(default_t, 2)})

    def fig_row(t: float, subset: list[PairOutcome]) -> dict[str, Any]:
        g, raw = figures(subset, t), figures(subset, t, raw=True)
        return {
            "threshold": t,
            "precision": g.precision,
            "false_hit_rate": g.false_hit_rate,
            "hit_rate": g.hit_rate,
            "false_hits": g.false_hits,
            "true_hits": g.true_hits,
            "raw_precision": raw.precision,
            "raw_false_hit_rate": raw.false_hit_rate,
            "raw_hit_rate": raw.hit_rate,
        }

    kinds = sorted({o.kind for o in outcomes if o.kind})
    per_kind = {}
    for kind in kinds:
        sub = [o for o in outcomes if o.kind == kind]
        hits = sum(o.hit_at(default_t) for o in sub)
        per_kind[kind] = {
            "pairs": len(sub),
            "label": sub[0].label,
            "hits": hits,
            "rate": hits / len(sub),
        }
    dev = [o for o in outcomes if o.split == "dev"]
    test = [o for o in outcomes if o.split == "test"]
    split_report = None
    if dev and test:
        tuned = best_threshold(dev, grid, max_false_hit_rate)
        if tuned is not None:
            split_report = {
                "tuned_on_dev": tuned,
                "dev": fig_row(tuned, dev),
                "test": fig_row(tuned, test),
                "all": fig_row(tuned, outcomes),
            }
    report = {
        "pairs": len(outcomes),
        "errors": errors,
        "positives": sum(o.label == 1 for o in outcomes),
        "negatives": sum(o.label == 0 for o in outcomes),
        "default_threshold": default_t,
        "default": fig_row(default_t, outcomes),
        "suggested_threshold": best_threshold(outcomes, grid, max_false_hit_rate),
        "thresholds": [fig_row(t, outcomes) for t in grid],
        "per_kind_at_default": per_kind,
        "split": split_report,
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
        return
    console = Console()
    for e in errors:
        console.print(f"[red]line {e.get('line')}: {e['error']}[/red]")
    table = Table(
        title=f"{report['pairs']} pairs ({report['positives']} same, {report['negatives']} different)"
    )
    for col in (
        "threshold",
        "precision",
        "false-hit rate",
        "hit rate",
        "raw cosine FHR",
        "raw cosine hit rate",
    ):
        table.add_column(col, justify="right")
    for row in report["thresholds"]:
        style = "bold green" if abs(row["threshold"] - default_t) < 1e-9 else None
        table.add_row(
            f"{row['threshold']:.2f}",
            f"{row['precision']:.3f}",
            f"{row['false_hit_rate']:.2%}",
            f"{row['hit_rate']:.1%}",
            f"{row['raw_false_hit_rate']:.2%}",
            f"{row['raw_hit_rate']:.1%}",
            style=style,
        )
    console.print(table)
    d = report["default"]
    console.print(
        f"default threshold {default_t:.2f}: precision {d['precision']:.3f}, false-hit rate "
        f"{d['false_hit_rate']:.2%} ({d['false_hits']} false hits), hit rate {d['hit_rate']:.1%}"
    )
    if report["suggested_threshold"] is not None:
        console.print(
            f"lowest threshold with false-hit rate <= {max_false_hit_rate:.1%}: {report['suggested_threshold']:.2f}"
        )
    if per_kind:
        kt = Table(title=f"per kind at {default_t:.2f}")
        for col in ("kind", "pairs", "label", "hits", "hit rate"):
            kt.add_column(col, justify="right")
        for kind, v in per_kind.items():
            kt.add_row(kind, str(v["pairs"]), str(v["label"]), str(v["hits"]), f"{v['rate']:.1%}")
        console.print(kt)
    if split_report:
        t = split_report["tuned_on_dev"]
        for name in ("dev", "test", "all"):
            r = split_report[name]
            console.print(
                f"tuned on dev -> {t:.2f} | {name}: precision {r['precision']:.3f}, false-hit rate "
                f"{r['false_hit_rate']:.2%}, hit rate {r['hit_rate']:.1%}"
            )


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
