"""PNG chart of cost per request and latency per bench configuration (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from switchyard.bench.report import CONFIG_LABELS, CONFIGS


def write_chart(report: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on servers or CI
    import matplotlib.pyplot as plt

    cfg = {c: report[c] for c in CONFIGS if report.get(c)}
    names = list(cfg)
    labels = [CONFIG_LABELS[c].replace(", ", ",\n").replace(" + ", " +\n") for c in names]
    colors = ["#9e9e9e", "#64b5f6", "#1e88e5", "#43a047"][: len(names)]
    cost = [cfg[c]["cost_per_request_usd"] for c in names]
    mean = [cfg[c]["mean_latency_ms"] / 1000 for c in names]
    p95 = [cfg[c]["p95_latency_ms"] / 1000 for c in names]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    bars = ax1.bar(labels, cost, color=colors)
    ax1.set_title("Cost per request (USD)")
    ax1.bar_label(bars, labels=[f"${v:.4f}" for v in cost], fontsize=8)
    ax1.set_ylim(0, max(cost) * 1.15 if max(cost) > 0 else 1)

    x = range(len(names))
    width = 0.38
    b1 = ax2.bar([i - width / 2 for i in x], mean, width, label="mean", color=colors)
    b2 = ax2.bar([i + width / 2 for i in x], p95, width, label="p95", color=colors, alpha=0.45,
                 hatch="//")
    ax2.bar_label(b1, labels=[f"{v:.1f}s" for v in mean], fontsize=8)
    ax2.bar_label(b2, labels=[f"{v:.1f}s" for v in p95], fontsize=8)
    ax2.set_xticks(list(x), labels)
    ax2.set_title("Latency (s): mean (solid), p95 (hatched)")
    ax2.set_ylim(0, max(p95 + mean) * 1.15 if max(p95 + mean) > 0 else 1)
    for ax in (ax1, ax2):
        ax.tick_params(axis="x", labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    wl = report.get("workload", {})
    fig.suptitle(
        f"switchyard bench - SIMULATION (offline model, list prices, simulated latency); "
        f"{wl.get('requests', '?')} requests, concurrency {report.get('concurrency', '?')}; "
        f"cost -{report.get('cost_reduction_pct', 0):.1f}%, latency -{report.get('latency_reduction_pct', 0):.1f}%",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
