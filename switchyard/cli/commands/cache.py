"""``switchyard cache``: inspect, clear, probe and calibrate the semantic cache."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from switchyard.cli.format import timestamp
from switchyard.cli.overlay import merge_overlay, read_overlay, same_file, writable_target
from switchyard.cli.params import utf8_text

cache_app = typer.Typer(
    help="Semantic cache: stats, clear, probe and calibrate.", no_args_is_help=True
)


@cache_app.command("stats")
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Entries, bytes, partitions, hit/miss counters, oldest/newest entry."""
    from rich.console import Console
    from rich.table import Table

    from switchyard.app import Switchyard

    with Switchyard() as sy:  # the deployment's cache: PostgreSQL when configured
        s = sy.cache.stats()
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
    table.add_row("oldest entry", timestamp(s["oldest_created_at"]))
    table.add_row("newest entry", timestamp(s["newest_created_at"]))
    table.add_row("next expiry", timestamp(s["soonest_expiry"]))
    for name, value in s["counters"].items():
        table.add_row(name.replace("_", " "), f"{value:,}")
    table.add_row("hit rate", "-" if s["hit_rate"] is None else f"{s['hit_rate']:.1%}")
    table.add_row("similarity threshold", f"{lim['similarity_threshold']:.2f}")
    table.add_row("eviction", lim["eviction"])
    Console().print(table)


@cache_app.command("clear")
def clear(
    user: Annotated[str | None, typer.Option("--user", callback=utf8_text,
                                             help="Only this user's partition.")] = None,
    intent: Annotated[
        str | None, typer.Option("--intent", callback=utf8_text, help="Only entries of this intent.")
    ] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
) -> None:
    """Delete entries (all, or filtered by user / intent / tenant; filters combine with AND)."""
    from switchyard.app import Switchyard

    with Switchyard() as sy:  # the deployment's cache: PostgreSQL when configured
        n = sy.cache.clear(user_id=user, intent=intent, tenant=tenant)
    what = ", ".join(
        f"{k}={v}" for k, v in (("user", user), ("intent", intent), ("tenant", tenant)) if v
    )
    typer.echo(f"cleared {n} entr{'y' if n == 1 else 'ies'}" + (f" ({what})" if what else ""))


def _open_out(out: Path | None) -> Any:
    return out.open("w", encoding="utf-8") if out else sys.stdout


@cache_app.command("probe")
def probe(
    pairs: Annotated[
        Path,
        typer.Option(
            "--pairs", exists=True, dir_okay=False, readable=True, help='JSONL {"id","a","b"}.'
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write JSONL here instead of stdout.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Add the verdict reason.")] = False,
) -> None:
    """Store ``a``, look up ``b`` (same user, own partition, default settings); print hit + similarity."""
    from switchyard.app import Switchyard
    from switchyard.cache.calibration import PairOutcome, read_pairs, run_pairs

    if out is not None:
        if same_file(pairs, out):
            raise typer.BadParameter(
                f"--out {out} is the --pairs file; writing it would erase the input",
                param_hint="'--out'",
            )
        out = writable_target(out, "--out")  # a directory or unwritable folder: refused now
    sy = Switchyard.for_batch()
    results = run_pairs(read_pairs(pairs, need_label=False), sy.settings.cache,
                        embed=sy.encoder.embed)
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


def _fig_row(t: float, subset: list[Any]) -> dict[str, Any]:
    from switchyard.cache.calibration import figures

    v, g, raw = (figures(subset, t, method=m) for m in ("verified", "guard", "raw"))
    lo, hi = v.false_hit_ci
    return {
        "threshold": t,
        "precision": v.precision,
        "false_hit_rate": v.false_hit_rate,
        "false_hit_rate_ci95": [lo, hi],
        "hit_rate": v.hit_rate,
        "false_hits": v.false_hits,
        "true_hits": v.true_hits,
        "negatives": v.negatives,
        "positives": v.positives,
        "guard_only_false_hit_rate": g.false_hit_rate,
        "guard_only_hit_rate": g.hit_rate,
        "raw_precision": raw.precision,
        "raw_false_hit_rate": raw.false_hit_rate,
        "raw_hit_rate": raw.hit_rate,
    }


def _group_report(
    outcomes: list[Any], by: str, grid: list[float], target: float, strict: bool
) -> dict[str, Any]:
    """Per-tier or per-intent recommendation, only where the group has enough negatives."""
    from switchyard.cache.calibration import best_threshold, min_negatives_for

    need = min_negatives_for(target)
    groups: dict[str, list[Any]] = {}
    for o in outcomes:
        key = getattr(o, by)
        if key:
            groups.setdefault(key, []).append(o)
    out: dict[str, Any] = {}
    for key, sub in sorted(groups.items()):
        negatives = sum(o.label == 0 for o in sub)
        entry: dict[str, Any] = {"pairs": len(sub), "negatives": negatives}
        if negatives < need:
            entry["recommended_threshold"] = None
            entry["why"] = (
                f"only {negatives} negatives; at least {need} needed for its own threshold"
            )
        else:
            t = best_threshold(sub, grid, target, strict=strict)
            entry["recommended_threshold"] = t
            entry["at_recommended"] = None if t is None else _fig_row(t, sub)
            if t is None:
                entry["why"] = "no threshold in the grid meets the target"
        out[key] = entry
    return out


@cache_app.command("calibrate")
def calibrate(
    pairs: Annotated[
        Path | None,
        typer.Option(
            "--pairs",
            exists=True,
            dir_okay=False,
            help='Labelled JSONL {"id","a","b","label"} (optional "tier", "intent", "kind", '
            '"split"); default: the domain pack\'s paths.cache_pairs.',
        ),
    ] = None,
    target: Annotated[
        float,
        typer.Option(
            "--target-false-hit",
            "--max-false-hit-rate",
            min=0.0001,
            max=0.5,
            help="Budget: the share of non-duplicate pairs that may be served as hits.",
        ),
    ] = 0.01,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Hold the 95% upper bound, not the measured rate, to the target."
        ),
    ] = False,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="Also fit a threshold per 'tier' or per 'intent' where the data supports it.",
        ),
    ] = None,
    write: Annotated[
        Path | None,
        typer.Option(
            "--write",
            dir_okay=False,
            help="Write the recommendation into this JSON settings overlay (use as SWITCHYARD_CONFIG).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Precision, false-hit rate (95% CI) and hit rate by threshold; recommends the threshold
    that meets the false-hit target, optionally per tier/intent, and can write it to settings."""
    from rich.console import Console
    from rich.table import Table

    from switchyard.app import Switchyard
    from switchyard.cache.calibration import (
        PairOutcome,
        best_threshold,
        default_grid,
        read_pairs,
        run_pairs,
    )

    if by not in (None, "tier", "intent"):
        raise typer.BadParameter("--by must be 'tier' or 'intent'")
    if write is not None:  # a bad or unwritable overlay fails now, not after every pair
        writable_target(write, "the overlay")
        read_overlay(write)
    from switchyard.cli.main import pack_data_file

    sy = Switchyard.for_batch()
    pairs = pack_data_file(sy.settings, "cache_pairs", pairs)
    settings = sy.settings.cache
    default_t = settings.similarity_threshold
    # Redirected output would be cut to 80 columns: the table needs more.
    console = Console(stderr=as_json, width=None if sys.stdout.isatty() else 150)
    results = run_pairs(read_pairs(pairs, need_label=True), settings, threshold=-1.0,
                        embed=sy.encoder.embed)
    errors = [r for r in results if not isinstance(r, PairOutcome)]
    outcomes = [r for r in results if isinstance(r, PairOutcome)]
    for e in errors:  # plain echo: one line per bad line, never wrapped
        typer.echo(f"line {e.get('line')}: {e['error']}", err=as_json)
    if not any(o.label == 0 for o in outcomes) or not any(o.label == 1 for o in outcomes):
        typer.echo(
            f"{pairs}: need labelled pairs of both kinds (label 1 = same question, 0 = "
            f"different); found {len(outcomes)} valid pairs, {len(errors)} bad lines",
            err=as_json,
        )
        raise typer.Exit(1)
    grid = sorted(set(default_grid()) | {round(default_t, 3)})
    recommended = best_threshold(outcomes, grid, target, strict=strict)

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
        tuned = best_threshold(dev, grid, target, strict=strict)
        if tuned is not None:
            split_report = {
                "tuned_on_dev": tuned,
                "dev": _fig_row(tuned, dev),
                "test": _fig_row(tuned, test),
                "all": _fig_row(tuned, outcomes),
            }
    groups = _group_report(outcomes, by, grid, target, strict) if by else None
    report = {
        "pairs": len(outcomes),
        "errors": errors,
        "positives": sum(o.label == 1 for o in outcomes),
        "negatives": sum(o.label == 0 for o in outcomes),
        "verify_same_question": settings.verify_same_question,
        "target_false_hit_rate": target,
        "strict": strict,
        "default_threshold": default_t,
        "default": _fig_row(default_t, outcomes),
        "recommended_threshold": recommended,
        "recommended": None if recommended is None else _fig_row(recommended, outcomes),
        "thresholds": [_fig_row(t, outcomes) for t in grid],
        "per_kind_at_default": per_kind,
        "split": split_report,
        "by": by,
        "groups": groups,
    }
    if write is not None:
        if recommended is None:
            typer.echo("no threshold meets the target: nothing written", err=as_json)
            raise typer.Exit(1)
        updates: dict[str, Any] = {"similarity_threshold": recommended}
        if groups:
            fitted = {
                k: v["recommended_threshold"]
                for k, v in groups.items()
                if v["recommended_threshold"] is not None
            }
            updates[f"{by}_similarity_threshold"] = fitted
        merge_overlay(write, "cache", updates)
        report["written"] = {"path": str(write), "cache": updates}
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
        return
    table = Table(
        title=f"{report['pairs']} pairs ({report['positives']} same, {report['negatives']} different)"
        + (
            ", same-question check on"
            if settings.verify_same_question
            else ", same-question check off"
        )
    )
    for col in (
        "threshold",
        "precision",
        "false-hit rate",
        "95% CI",
        "hit rate",
        "guard only FHR / hit",
        "raw cosine FHR / hit",
    ):
        table.add_column(col, justify="right")
    shown = [
        r for r in report["thresholds"] if r["threshold"] >= 0.80 or r["threshold"] in (0.6, 0.7)
    ]
    for row in shown:
        t = row["threshold"]
        style = (
            "bold green" if t == recommended else ("bold" if abs(t - default_t) < 1e-9 else None)
        )
        lo, hi = row["false_hit_rate_ci95"]
        table.add_row(
            f"{t:.3g}",
            f"{row['precision']:.3f}",
            f"{row['false_hit_rate']:.2%}",
            f"{lo:.2%}-{hi:.2%}",
            f"{row['hit_rate']:.1%}",
            f"{row['guard_only_false_hit_rate']:.2%} / {row['guard_only_hit_rate']:.1%}",
            f"{row['raw_false_hit_rate']:.2%} / {row['raw_hit_rate']:.1%}",
            style=style,
        )
    console.print(table)

    def line(label: str, r: dict[str, Any]) -> str:
        lo, hi = r["false_hit_rate_ci95"]
        return (
            f"{label} {r['threshold']:.3g}: false-hit rate {r['false_hit_rate']:.2%} "
            f"({r['false_hits']}/{r['negatives']}, 95% CI {lo:.2%}-{hi:.2%}), hit rate "
            f"{r['hit_rate']:.1%} ({r['true_hits']}/{r['positives']}), precision {r['precision']:.3f}"
        )

    console.print(line("current threshold", report["default"]), highlight=False)
    if report["recommended"] is not None:
        console.print(
            line(
                f"recommended for a {target:.2%} target{' (strict)' if strict else ''}:",
                report["recommended"],
            ),
            highlight=False,
        )
        if not strict and report["recommended"]["false_hit_rate_ci95"][1] > target:
            console.print(
                "  the 95% upper bound is above the target: more negatives, --strict or a margin "
                "would make it safer",
                highlight=False,
            )
    else:
        console.print(f"no threshold in the grid meets a {target:.2%} false-hit target")
    if per_kind:
        kt = Table(title=f"per kind at {default_t:.3g}")
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
                f"tuned on dev -> {t:.3g} | {name}: precision {r['precision']:.3f}, false-hit rate "
                f"{r['false_hit_rate']:.2%}, hit rate {r['hit_rate']:.1%}"
            )
    if groups:
        for key, v in groups.items():
            if v["recommended_threshold"] is None:
                console.print(f"{by} {key}: keeps the default ({v.get('why')})", highlight=False)
            else:
                console.print(line(f"{by} {key}:", v["at_recommended"]), highlight=False)
    if write is not None:
        console.print(
            f"wrote {report['written']['cache']} to {write} (use SWITCHYARD_CONFIG={write})"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
