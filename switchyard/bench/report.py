"""Turn per-request bench results into the article's "measuring success" numbers and red flags.

Pure arithmetic on plain dicts (no graph, no I/O), so tests can check it on synthetic results.
A per-request result holds at least: ``ok``, ``agent`` (tier that answered, or the tier whose
cached answer was served), ``route`` (tier the router chose), ``cache_hit``, ``cost_usd``,
``classifier_cost_usd``, ``wall_ms``, ``simulated_ms``, ``oracle_tier``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

TIERS: tuple[str, ...] = ("fast", "standard", "expert")
CONFIGS: tuple[str, ...] = ("baseline", "routed", "routed_cached", "oracle")
CONFIG_LABELS: dict[str, str] = {
    "baseline": "Baseline (all expert, no cache)",
    "routed": "Routed, no cache",
    "routed_cached": "Routed + cache",
    "oracle": "Oracle routing + cache",
}
SHORT_LABELS: dict[str, str] = {
    "baseline": "Baseline\n(all expert)",
    "routed": "Routed",
    "routed_cached": "Routed\n+ cache",
    "oracle": "Oracle\n+ cache",
}
# The article's red-flag threshold for the classifier's own cost.
CLASSIFIER_MAX_USD = 0.005
# The done-when targets.
TARGET_COST_REDUCTION_PCT = 85.0
TARGET_LATENCY_REDUCTION_PCT = 60.0
TARGET_ORACLE_GAP_PCT = 10.0
DAYS_PER_MONTH = 30


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), 0 for an empty list."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def pct_reduction(before: float, after: float) -> float:
    """How much smaller ``after`` is than ``before``, in percent (negative = it grew)."""
    if before <= 0:
        return 0.0
    return (1.0 - after / before) * 100.0


def summarise(
    results: Sequence[dict[str, Any]],
    *,
    wall_s: float,
    daily_volume: int,
    max_in_flight: int = 0,
) -> dict[str, Any]:
    """One configuration's numbers. Cost and latency average over *all* requests, errors included
    as they happened (an errored request still cost what it spent and took the time it took)."""
    n = len(results)
    ok = [r for r in results if r.get("ok")]
    costs = [float(r.get("cost_usd") or 0.0) for r in results]
    walls = [float(r.get("wall_ms") or 0.0) for r in ok]
    overheads = [float(r.get("overhead_ms") or 0.0) for r in ok]
    hits = sum(1 for r in ok if r.get("cache_hit"))
    answered = {t: sum(1 for r in ok if r.get("agent") == t and not r.get("cache_hit")) for t in TIERS}
    routed = {t: sum(1 for r in ok if r.get("route") == t) for t in TIERS}
    denom = n or 1
    cost_per_request = sum(costs) / denom
    classifier_cost = sum(float(r.get("classifier_cost_usd") or 0.0) for r in results) / denom
    # Quality kept, where outcome labels exist: the answering tiers' labels over the expert's,
    # on requests labelled for both (None without labels).
    labelled = [r for r in results if r.get("expert_outcome") is not None
                and (r.get("outcome") is not None or not r.get("ok"))]
    expert_q = sum(float(r["expert_outcome"]) for r in labelled)
    kept = (sum(float(r.get("outcome") or 0.0) for r in labelled) / expert_q
            if labelled and expert_q > 0 else None)
    under = sum(1 for r in ok if _rank(r.get("route")) < _rank(r.get("oracle_tier")))
    over = sum(1 for r in ok if _rank(r.get("route")) > _rank(r.get("oracle_tier")))
    return {
        "requests": n,
        "errors": n - len(ok),
        "cost_per_request_usd": round(cost_per_request, 6),
        "total_cost_usd": round(sum(costs), 6),
        "mean_latency_ms": round(_mean(walls), 1),
        "p50_latency_ms": round(percentile(walls, 50), 1),
        "p95_latency_ms": round(percentile(walls, 95), 1),
        "p99_latency_ms": round(percentile(walls, 99), 1),
        # Who produced the answers: a tier's model, or the cache.
        "tier_mix": {**{t: round(answered[t] / denom, 4) for t in TIERS},
                     "cache": round(hits / denom, 4)},
        # Where the router sent each request (before the cache had its say).
        "route_mix": {t: round(routed[t] / denom, 4) for t in TIERS},
        "cache_hit_rate": round(hits / denom, 4),
        "quality_kept": None if kept is None else round(kept, 4),
        "quality_labelled": len(labelled),
        "cache_stores": sum(1 for r in ok if r.get("cache_stored")),
        "classifier_cost_per_request_usd": round(classifier_cost, 6),
        "routing_vs_oracle": {
            "agree": round((len(ok) - under - over) / (len(ok) or 1), 4),
            "under_routed": under,
            "over_routed": over,
        },
        "daily_cost_usd": round(cost_per_request * daily_volume, 2),
        "monthly_cost_usd": round(cost_per_request * daily_volume * DAYS_PER_MONTH, 2),
        "wall_s": round(wall_s, 2),
        "throughput_rps": round(n / wall_s, 2) if wall_s > 0 else 0.0,
        "overhead_p50_ms": round(percentile(overheads, 50), 2),
        "overhead_p95_ms": round(percentile(overheads, 95), 2),
        "overhead_mean_ms": round(_mean(overheads), 2),
        # The overhead split: waiting for a model slot (tier cap, rate limit) vs the graph's own work.
        "queue_p50_ms": round(percentile([float(r.get("queue_ms") or 0) for r in ok], 50), 2),
        "queue_p95_ms": round(percentile([float(r.get("queue_ms") or 0) for r in ok], 95), 2),
        "own_overhead_p50_ms": round(percentile([float(r.get("own_overhead_ms") or 0) for r in ok], 50), 2),
        "own_overhead_p95_ms": round(percentile([float(r.get("own_overhead_ms") or 0) for r in ok], 95), 2),
        "simulated_model_ms_mean": round(_mean([float(r.get("simulated_ms") or 0) for r in ok]), 1),
        "max_in_flight": max_in_flight,
    }


def _rank(tier: Any) -> int:
    return TIERS.index(tier) if tier in TIERS else -1


def compare(configs: dict[str, dict[str, Any]], *, daily_volume: int) -> dict[str, Any]:
    """Savings of each configuration against the baseline, and routed+cache against the oracle."""
    base = configs["baseline"]
    out: dict[str, Any] = {}
    for summary in configs.values():
        summary["cost_reduction_pct"] = round(
            pct_reduction(base["cost_per_request_usd"], summary["cost_per_request_usd"]), 2)
        summary["latency_reduction_pct"] = round(
            pct_reduction(base["mean_latency_ms"], summary["mean_latency_ms"]), 2)
        summary["p95_latency_reduction_pct"] = round(
            pct_reduction(base["p95_latency_ms"], summary["p95_latency_ms"]), 2)
        summary["daily_savings_usd"] = round(base["daily_cost_usd"] - summary["daily_cost_usd"], 2)
        summary["monthly_savings_usd"] = round(
            base["monthly_cost_usd"] - summary["monthly_cost_usd"], 2)
    rc, oracle = configs["routed_cached"], configs["oracle"]
    out["cost_reduction_pct"] = rc["cost_reduction_pct"]
    out["latency_reduction_pct"] = rc["latency_reduction_pct"]
    out["p95_latency_reduction_pct"] = rc["p95_latency_reduction_pct"]
    # Positive: routed+cache costs more than the oracle by this many percent.
    gap = (rc["cost_per_request_usd"] / oracle["cost_per_request_usd"] - 1.0) * 100.0 \
        if oracle["cost_per_request_usd"] > 0 else 0.0
    out["oracle_cost_gap_pct"] = round(gap, 2)
    out["daily_volume"] = daily_volume
    out["projection"] = {
        "daily_volume": daily_volume,
        "baseline_daily_usd": base["daily_cost_usd"],
        "routed_cached_daily_usd": rc["daily_cost_usd"],
        "baseline_monthly_usd": base["monthly_cost_usd"],
        "routed_cached_monthly_usd": rc["monthly_cost_usd"],
        "monthly_savings_usd": rc["monthly_savings_usd"],
    }
    out["targets"] = {
        "cost_reduction_ge_85pct": out["cost_reduction_pct"] >= TARGET_COST_REDUCTION_PCT,
        "latency_reduction_ge_60pct": out["latency_reduction_pct"] >= TARGET_LATENCY_REDUCTION_PCT,
        "within_10pct_of_oracle": gap <= TARGET_ORACLE_GAP_PCT,
    }
    return out


def red_flags(
    configs: dict[str, dict[str, Any]],
    *,
    strategic_cached: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The article's four red flags, each with whether it fired and the evidence."""
    base, routed, rc = configs["baseline"], configs["routed"], configs["routed_cached"]
    expert_share = routed["route_mix"].get("expert", 0.0)
    savings = base["cost_per_request_usd"] - routed["cost_per_request_usd"]
    clf = rc["classifier_cost_per_request_usd"]
    cached = list(strategic_cached)
    return [
        {
            "flag": "every request goes to the most expensive agent",
            "fired": expert_share >= 0.9,
            "detail": f"router sent {expert_share:.1%} of requests to the expert",
        },
        {
            "flag": "classifier costs more than its benefit (or > $0.005/request)",
            "fired": clf > CLASSIFIER_MAX_USD or clf > max(savings, 0.0),
            "detail": f"classifier ${clf:.6f}/request vs routing saving ${savings:.6f}/request",
        },
        {
            "flag": "strategic recommendations are cached",
            "fired": bool(cached),
            "detail": ("cached: " + "; ".join(cached[:5])) if cached
            else "no expert-tier, high-complexity or strategic answer in the cache",
        },
        {
            "flag": "latency did not improve",
            "fired": rc["mean_latency_ms"] >= base["mean_latency_ms"],
            "detail": f"mean {base['mean_latency_ms'] / 1000:.2f}s -> {rc['mean_latency_ms'] / 1000:.2f}s",
        },
    ]


# -- rendering ----------------------------------------------------------------------------------
def _usd(x: float) -> str:
    if x >= 100:
        return f"${x:,.0f}"
    if x >= 1:
        return f"${x:,.2f}"
    return f"${x:.4f}" if x >= 0.001 else f"${x:.6f}"


def _s(ms: float) -> str:
    return f"{ms / 1000:.2f}s"


def _mix(m: dict[str, float]) -> str:
    parts = [f"{k[0].upper()}{v:.0%}" for k, v in m.items() if k in TIERS]
    if "cache" in m:
        parts.append(f"cache {m['cache']:.0%}")
    return " ".join(parts)


def table_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The comparison table as (header, rows); shared by the terminal and markdown renderers."""
    cfg = {c: report[c] for c in CONFIGS if report.get(c)}
    names = list(cfg)
    header = ["Metric"] + [CONFIG_LABELS[c] for c in names]

    def row(label: str, fn: Any) -> list[str]:
        return [label] + [fn(cfg[c]) for c in names]

    vol = report["daily_volume"]
    rows = [
        row("Cost per request", lambda s: _usd(s["cost_per_request_usd"])),
        row("Mean latency", lambda s: _s(s["mean_latency_ms"])),
        row("p95 latency", lambda s: _s(s["p95_latency_ms"])),
        row("Answered by (F/S/E/cache)", lambda s: _mix(s["tier_mix"])),
        row("Cache hit rate", lambda s: f"{s['cache_hit_rate']:.1%}"),
        row("Classifier cost/request", lambda s: _usd(s["classifier_cost_per_request_usd"])),
        row(f"Daily cost @ {vol:,} req/day", lambda s: _usd(s["daily_cost_usd"])),
        row(f"Monthly cost ({DAYS_PER_MONTH} days)", lambda s: _usd(s["monthly_cost_usd"])),
        row("Cost saving", lambda s: f"{s['cost_reduction_pct']:.1f}%"),
        *([row("Quality kept (outcome labels)",
               lambda s: "-" if s.get("quality_kept") is None else f"{s['quality_kept']:.1%}")]
          if any(cfg[c].get("quality_kept") is not None for c in names) else []),
        row("Latency saving", lambda s: f"{s['latency_reduction_pct']:.1f}%"),
        row("Throughput", lambda s: f"{s['throughput_rps']:.1f} req/s"),
        row("Overhead p50/p95", lambda s: f"{s['overhead_p50_ms']:.1f} / {s['overhead_p95_ms']:.1f} ms"),
        row("  waiting for a model", lambda s: f"{s.get('queue_p50_ms', 0):.1f} / {s.get('queue_p95_ms', 0):.1f} ms"),
        row("  graph's own work", lambda s: f"{s.get('own_overhead_p50_ms', 0):.1f} / {s.get('own_overhead_p95_ms', 0):.1f} ms"),
        row("Max in flight", lambda s: str(s["max_in_flight"])),
        row("Errors", lambda s: str(s["errors"])),
    ]
    return header, rows


def assumptions_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for tier, a in report.get("assumptions", {}).get("tiers", {}).items():
        lines.append(
            f"{tier}: {a['model']} at ${a['input_per_m']:.2f}/${a['output_per_m']:.2f} per 1M in/out tokens, "
            f"TTFT {a['ttft_ms']:.0f} ms, {a['tokens_per_s']:.0f} tok/s"
            + (f", {a['reasoning_tokens']} reasoning tokens/call" if a.get("reasoning_tokens") else "")
            + f", cap {a['max_concurrency']} in flight, {a['requests_per_second']:.0f} req/s"
        )
    return lines


def quality_line(report: dict[str, Any]) -> str:
    """Routing + cache against all-expert, by the workload's outcome labels."""
    q = report["quality"]
    return (f"Quality (outcome labels of {q['labelled_requests']} requests): routing + cache kept "
            f"{q['quality_kept']:.1%} of all-expert quality at {q['cost_share']:.1%} of its cost.")


def to_markdown(report: dict[str, Any], chart_name: str = "chart.png") -> str:
    header, rows = table_rows(report)
    wl = report["workload"]
    out = [
        "# switchyard bench",
        "",
        "**Simulation.** The offline model stands in for each tier's configured model: token counts "
        "come from the real prompts and answers, latency is simulated from each model's latency "
        "profile, cost uses list prices. Figures are projections under these assumptions:",
        "",
        *[f"- {line}" for line in assumptions_lines(report)],
        "",
        f"Workload: {wl['requests']} requests from `{wl['source']}` (seed {wl['seed']}), mix "
        + ", ".join(f"{c} {v:.0%}" for c, v in wl["mix_actual"].items())
        + f"; {wl['users']} users; repeats: {wl['kinds']['repeat_same_user']} same user, "
        f"{wl['kinds']['repeat_other_user']} other user, {wl['kinds']['paraphrase']} paraphrases; "
        f"concurrency {report['concurrency']}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *["| " + " | ".join(r) + " |" for r in rows],
        "",
        f"Routed + cache vs baseline: cost **-{report['cost_reduction_pct']:.1f}%**, mean latency "
        f"**-{report['latency_reduction_pct']:.1f}%**; routed + cache costs "
        f"{report['oracle_cost_gap_pct']:+.1f}% vs oracle routing.",
        *(["", quality_line(report)] if report.get("quality") else []),
        "",
        "## Red flags",
        "",
        *[f"- {'FIRED' if f['fired'] else 'ok'}: {f['flag']} ({f['detail']})" for f in report["red_flags"]],
        "",
        "## Targets",
        "",
        *[f"- {'met' if v else 'MISSED'}: {k}" for k, v in report["targets"].items()],
        "",
        f"![cost and latency per configuration]({chart_name})",
        "",
    ]
    return "\n".join(out)


def render_rich(report: dict[str, Any], console: Any) -> None:
    """Print the comparison table, red flags and targets with rich."""
    from rich.table import Table

    header, rows = table_rows(report)
    short = {CONFIG_LABELS[c]: SHORT_LABELS[c] for c in CONFIGS}
    table = Table(title="switchyard bench: measuring success (simulation, list prices)",
                  show_lines=False, header_style="bold")
    for i, h in enumerate(header):
        # The metric names must stay readable in an 80-column terminal; values may wrap.
        if i == 0:
            table.add_column(h, justify="left", no_wrap=True, min_width=22)
        else:
            table.add_column(short.get(h, h), justify="right", overflow="fold")
    for r in rows:
        table.add_row(*r)
    console.print(table)
    if report.get("quality"):
        console.print(quality_line(report))
    for line in assumptions_lines(report):
        console.print(f"[dim]  {line}[/]")
    console.print(
        f"\nRouted + cache vs baseline: cost [bold]-{report['cost_reduction_pct']:.1f}%[/], mean latency "
        f"[bold]-{report['latency_reduction_pct']:.1f}%[/]; vs oracle: {report['oracle_cost_gap_pct']:+.1f}% cost"
    )
    console.print("\n[bold]Red flags[/]")
    for f in report["red_flags"]:
        mark = "[red]✗ FIRED[/]" if f["fired"] else "[green]✓ ok[/]"
        console.print(f"  {mark} {f['flag']} [dim]({f['detail']})[/]")
    console.print("[bold]Targets[/]")
    for k, v in report["targets"].items():
        console.print(f"  {'[green]✓ met[/]' if v else '[red]✗ missed[/]'} {k}")


# -- several workloads (`switchyard bench --seeds`) -------------------------------------------
SEED_METRICS: tuple[tuple[str, str], ...] = (
    ("cost_reduction_pct", "cost reduction"),
    ("latency_reduction_pct", "mean latency reduction"),
    ("oracle_cost_gap_pct", "routed+cache vs oracle cost"),
)


def seed_summary(reports: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The headline figures of one bench per workload seed, with their median, min and max.

    One 200-request workload holds ~10 high-complexity requests, so a single medium question sent
    to the expert (and its repeats, which the expert never serves from cache) moves the gap to
    the oracle by tens of points: the spread over seeds says how much a single figure can be trusted.
    """
    per_seed = []
    for seed, rep in reports.items():
        row: dict[str, Any] = {"seed": seed, **{k: rep[k] for k, _ in SEED_METRICS}}
        row["errors"] = sum(int(rep[c].get("errors", 0)) for c in ("baseline", "routed", "routed_cached", "oracle"))
        row["targets_met"] = all(rep["targets"].values())
        per_seed.append(row)
    stats = {}
    for key, _ in SEED_METRICS:
        vals = sorted(r[key] for r in per_seed)
        stats[key] = {"median": round(percentile(vals, 50), 2), "min": vals[0], "max": vals[-1]}
    return {
        "seeds": [r["seed"] for r in per_seed],
        "per_seed": per_seed,
        "stats": stats,
        "seeds_meeting_all_targets": sum(r["targets_met"] for r in per_seed),
        "errors": sum(r["errors"] for r in per_seed),
    }


def render_seed_summary(summary: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title="bench over several workloads (one row per seed)")
    table.add_column("seed", justify="right")
    for _, label in SEED_METRICS:
        table.add_column(label, justify="right")
    table.add_column("errors", justify="right")
    table.add_column("all targets", justify="center")
    def pct(key: str, v: float) -> str:  # reductions read as sizes, the gap as a signed difference
        return f"{v:+.1f}%" if key == "oracle_cost_gap_pct" else f"{v:.1f}%"

    for r in summary["per_seed"]:
        table.add_row(str(r["seed"]), *[pct(k, r[k]) for k, _ in SEED_METRICS], str(r["errors"]),
                      "met" if r["targets_met"] else "missed")
    st = summary["stats"]
    table.add_row("median", *[pct(k, st[k]["median"]) for k, _ in SEED_METRICS], str(summary["errors"]),
                  f"{summary['seeds_meeting_all_targets']}/{len(summary['per_seed'])}", style="bold")
    table.add_row("range", *[f"{pct(k, st[k]['min'])} to {pct(k, st[k]['max'])}" for k, _ in SEED_METRICS], "", "")
    console.print(table)
