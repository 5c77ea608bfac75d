"""``switchyard route train|eval|calibrate`` on outcome data (docs/outcomes.md).

The commands are registered by ``switchyard/cli/commands/classify.py`` (the ``route`` group);
the work is here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer

if TYPE_CHECKING:
    from switchyard.app import Switchyard
    from switchyard.classifier.outcomes import Outcome


def load_or_exit(path: Path) -> list[Outcome]:
    from switchyard.classifier.outcomes import OutcomeFileError, load_outcomes
    from switchyard.cli.params import refuse_file

    try:
        return load_outcomes(path)
    except OutcomeFileError as exc:  # every bad line (one a line of output), nothing written
        refuse_file(f"{path} cannot be used; nothing was written:", exc.problems)


# Texts per forward pass for a file of outcomes: smaller batches than the request path's were
# faster on long questions here (less padding inside each length-sorted batch).
EMBED_BATCH = 16


def embed_rows(sy: Switchyard, rows: Sequence[Outcome]) -> np.ndarray:
    """The rows' embeddings, each distinct text embedded once, in batches. On the encoder's
    configured threads (``embedding_threads``): on a shared 2-core machine a second intra-op
    thread made a 10,000-line file slower (281 s against 194 s), not faster."""
    texts = [r.text for r in rows]
    uniq = list(dict.fromkeys(texts))
    vecs = sy.encoder.embed(uniq, batch_size=EMBED_BATCH)
    index = {t: i for i, t in enumerate(uniq)}
    return vecs[[index[t] for t in texts]]


def enough_tiers(rows: Sequence[Outcome], where: str) -> None:
    """Refuse to train on ``rows`` (all of them: feedback beside an outcome file counts with
    it) unless two tiers are rated."""
    from switchyard.classifier.outcomes import scored_tiers

    tiers = scored_tiers(rows)
    if len(tiers) < 2:
        raise typer.BadParameter(
            f"{where}: rated answers from at least two tiers are needed to learn which one a "
            f"request needs (found only {', '.join(tiers) or 'none'}); set "
            "classifier.exploration_share (e.g. 0.05) so some requests are answered one tier "
            "up or down")


def feedback_outcomes(sy: Switchyard) -> list[Outcome]:
    """The rated runs in this deployment's feedback store, as importance-weighted outcomes."""
    from switchyard.feedback import feedback_outcomes as as_outcomes

    return as_outcomes(sy.feedback.rated_runs(), sy.settings.classifier.exploration_max_weight)


def langsmith_outcomes(sy: Switchyard, project: str, since_days: float) -> list[Outcome]:
    """The feedback on a LangSmith project's switchyard runs of the last ``since_days`` days,
    as importance-weighted outcomes."""
    from switchyard.classifier.outcomes import TIER_NAMES, Outcome
    from switchyard.core.langsmith_feedback import read_langsmith_feedback

    max_w = sy.settings.classifier.exploration_max_weight
    rows = []
    for r in read_langsmith_feedback(project, since_days=since_days):
        if not r["text"] or r["answered_by"] not in TIER_NAMES or r["cache_hit"]:
            continue
        p = r["propensity"]
        weight = min(max_w, 1.0 / float(p)) if p else 1.0
        rows.append(Outcome(text=r["text"], history=r["history"], weight=weight,
                            outcomes={r["answered_by"]: min(1.0, max(0.0, r["score"]))}))
    return rows


def train(sy: Switchyard, rows: Sequence[Outcome], source: str) -> str:
    """Fit the outcome head on ``rows`` and save it beside the classifier (whose intents,
    scope and follow-up heads stay as they were)."""
    from switchyard.classifier.outcome_model import fit_outcomes

    t0 = time.perf_counter()
    sy.classifier  # noqa: B018 - the bundled (or your labelled) heads exist before the outcome head
    emb = embed_rows(sy, rows)
    t_embed = time.perf_counter() - t0
    model = fit_outcomes(rows, emb, source=source)
    model.save(sy.settings.classifier_path)
    reload = getattr(sy.classifier, "reload", None)
    if reload is not None:
        reload()
    return (f"{model.provenance}; embedded {len(rows):,} requests in {t_embed:.1f} s; "
            f"{time.perf_counter() - t0:.1f} s in all -> {sy.settings.classifier_path}")


def check_folds(rows: Sequence[Outcome], folds: int) -> None:
    """Every fold must hold requests (folds go by prompt hash): checked before any embedding."""
    from switchyard.classifier.outcomes import folds_by_hash

    counts = np.bincount(folds_by_hash(rows, folds), minlength=folds)
    if (counts == 0).any():
        distinct = len({r.key for r in rows})
        raise typer.BadParameter(
            f"--folds {folds} leaves {int((counts == 0).sum())} of the folds empty: the file has "
            f"{distinct:,} distinct requests and a request's repeats share one fold; use fewer "
            "folds", param_hint="--folds")


def chart_path(given: Path | None, home: Path) -> Path:
    """Where the chart goes, known to be writable before the evaluation runs: a directory gets
    ``route-eval.png`` inside it, a name without a suffix gets ``.png``; another format is
    refused."""
    from switchyard.cli.overlay import writable_target

    path = given if given is not None else home / "route-eval.png"
    if path.is_dir():
        path = path / "route-eval.png"
    elif not path.suffix:
        path = path.with_name(path.name + ".png")
    if path.suffix.lower() != ".png":
        raise typer.BadParameter(f"the chart is a PNG file: {path} ends in {path.suffix}",
                                 param_hint="--chart")
    writable_target(path, "the chart")
    return path


def _curve_rows(curves: dict[str, Any]) -> list[tuple[str, dict[str, float]]]:
    return [(name, c.summary()) for name, c in curves.items() if c is not None]


def evaluate(sy: Switchyard, path: Path, rows: Sequence[Outcome], folds: int | None) -> dict[str, Any]:
    """The report of ``route eval --outcomes``: curves' metrics, the operating point, and the
    curves themselves (for the chart)."""
    from switchyard.classifier.outcome_model import (
        cross_validated,
        ends,
        operating_point,
        tier_prices,
    )
    from switchyard.classifier.outcomes import curve, oracle_curve, random_curve

    lo, hi, weak, strong = ends(rows)
    emb = embed_rows(sy, rows)
    report: dict[str, Any] = {"path": str(path), "n": len(rows), "weak_tier": lo,
                              "strong_tier": hi, "weak_quality": round(float(weak.mean()), 4),
                              "strong_quality": round(float(strong.mean()), 4)}
    curves: dict[str, Any] = {}
    if folds:
        scores = cross_validated(rows, emb, folds)
        report["folds"] = folds
        curves["router"] = curve(scores["router"], weak, strong)
        curves["baseline_lr_embedding"] = curve(scores["baseline"], weak, strong)
    else:
        head = getattr(sy.classifier, "outcome", None)
        if head is None:
            raise typer.BadParameter("the router has not been trained on outcomes: run `switchyard "
                                     "route train --outcomes FILE`, or pass --folds K to "
                                     "cross-validate on this file")
        quality = head.quality(emb, [r.text for r in rows])
        curves["router"] = curve(quality[:, -1] - quality[:, 0], weak, strong)
        prices = tier_prices(head.tiers, sy.settings)
        report["operating_point"] = operating_point(
            rows, head, quality, prices, sy.settings.classifier.outcome_cost_weight)
    curves["random"] = random_curve(weak, strong)
    curves["oracle"] = oracle_curve(weak, strong)
    for name, summary in _curve_rows(curves):
        report[name] = summary
    # Cost at the configured prices: the strong share priced against all-strong.
    prices = tier_prices([lo, hi], sy.settings)
    report["cost_at_cpt"] = {name: {k: None if v is None else
                                    round(float(prices[0] + (prices[1] - prices[0]) * v), 4)
                                    for k, v in s.items() if k.startswith("cpt")}
                             for name, s in _curve_rows(curves)}
    if not curves["random"].defined:
        report["note"] = (f"{hi} is not better than {lo} on this file ({report['strong_quality']:.1%}"
                          f" against {report['weak_quality']:.1%} good): there is no quality gap "
                          "to recover, so APGR and CPT are undefined")
    report["_curves"] = curves
    return report


def write_chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, c in report["_curves"].items():
        label = f"{name} (APGR {c.apgr:.3f})" if c.defined else name
        ax.plot(c.shares * 100, c.quality * 100, label=label,
                linestyle="--" if name in ("random", "oracle") else "-")
    ax.set_xlabel(f"share of requests sent to {report['strong_tier']} (%)")
    ax.set_ylabel("quality (% good answers)")
    ax.set_title(f"quality vs {report['strong_tier']} calls: {Path(report['path']).name}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    how = (f"{report['folds']}-fold cross-validation by prompt hash (refitted each fold)"
           if report.get("folds") else "the trained router, as is")
    con.print(f"[bold]{report['path']}[/] - {report['n']} requests; {report['weak_tier']} "
              f"{report['weak_quality']:.1%} good, {report['strong_tier']} "
              f"{report['strong_quality']:.1%} good; {how}")
    table = Table(title=f"quality-cost: share of {report['strong_tier']} calls to recover x% of "
                        "the quality gap (CPT), and its cost vs all-strong")
    for col in ("router", "APGR", "CPT(50%)", "CPT(80%)", "CPT(95%)", "cost at CPT(80%)"):
        table.add_column(col, justify="right")
    def shown(v: float | None, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    for name, c in report["_curves"].items():
        s = c.summary()
        table.add_row(name, shown(s["apgr"], ".3f"), shown(s["cpt50"], ".1%"),
                      shown(s["cpt80"], ".1%"), shown(s["cpt95"], ".1%"),
                      shown(report["cost_at_cpt"][name]["cpt80"], ".1%"))
    con.print(table)
    if report.get("note"):
        con.print(f"note: {report['note']}")
    op = report.get("operating_point")
    if op:
        con.print("operating point (classifier.outcome_cost_weight "
                  f"{op['cost_weight']:g}): " + ", ".join(f"{t} {v:.1%}" for t, v in op["share"].items())
                  + (f"; quality kept {op['quality_kept']:.1%} of all-{report['strong_tier']}"
                     if op["quality_kept"] is not None else "")
                  + f" at {op['cost_share']:.1%} of its cost")


def overlay_path(write: Path | None) -> Path:
    """Where calibration is written: --write, else the JSON file SWITCHYARD_CONFIG names."""
    if write is not None:
        return write
    env = os.environ.get("SWITCHYARD_CONFIG")
    if env and env.lower().endswith(".json"):
        return Path(env)
    raise typer.BadParameter("say where to write the operating point: --write overlay.json "
                             "(then use it as SWITCHYARD_CONFIG), or set SWITCHYARD_CONFIG to a "
                             ".json file")


def calibrate(sy: Switchyard, rows: Sequence[Outcome], *, expert_share: float | None,
              min_quality: float | None) -> dict[str, Any]:
    from switchyard.classifier.outcome_model import calibrate_weight, operating_point, tier_prices

    head = getattr(sy.classifier, "outcome", None)
    if head is None:
        raise typer.BadParameter("the router has not been trained on outcomes: run `switchyard "
                                 "route train --outcomes FILE` first")
    emb = embed_rows(sy, rows)
    quality = head.quality(emb, [r.text for r in rows])
    prices = tier_prices(head.tiers, sy.settings)
    weight = calibrate_weight(head, quality, prices, expert_share=expert_share,
                              min_quality=min_quality, rows=rows)
    point = operating_point(rows, head, quality, prices, weight)
    dearest = head.tiers[-1]
    if expert_share is not None:
        got = float(point["share"][dearest])
        # The share moves in steps of one request (more where predictions tie).
        if abs(got - expert_share) > max(0.02, 1.0 / len(rows)):
            unmet(f"the closest operating point on these {len(rows):,} requests sends {got:.1%} "
                  f"to {dearest}, not {expert_share:.1%} (the router's predictions allow no "
                  "closer share)")
    else:
        kept = point["quality_kept"]
        if kept is None:
            unmet(f"the quality kept cannot be measured on this file: its requests do not score "
                  f"{dearest} (or {dearest} never gave a good answer), and the router's tiers "
                  f"({', '.join(head.tiers)}) must be scored to compare them")
        elif min_quality is not None and kept < min_quality:
            unmet(f"at most {kept:.1%} of all-{dearest} quality is kept on this file (the best "
                  f"predicted tier for every request), below the {min_quality:.1%} asked")
    return point


def unmet(reason: str) -> None:
    typer.echo(f"error: the target cannot be met: {reason}; nothing was written.", err=True)
    raise typer.Exit(1)
