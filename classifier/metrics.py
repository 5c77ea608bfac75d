"""Routing metrics shared by `switchyard route eval`, the tuning script and the tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from switchyard.classifier.data import Example
from switchyard.classifier.local import cost_matrix, decide
from switchyard.classifier.schema import Classification
from switchyard.core.settings import COMPLEXITY_FOR_TIER, TIER_FOR_COMPLEXITY, TIERS, Settings

_RANK = {t: i for i, t in enumerate(TIERS)}


def expected_agent(row: Example) -> str:
    """Out-of-scope requests belong with the fast agent's deflection, whatever their complexity."""
    return TIER_FOR_COMPLEXITY[row.complexity] if row.in_scope else "fast"


def routing_report(rows: Sequence[Example], preds: Sequence[Classification]) -> dict:
    n = len(rows)
    confusion = {t: {p: 0 for p in TIERS} for t in TIERS}
    under = over = correct = comp_correct = intent_correct = scope_correct = 0
    high = high_hit = high_fast = 0
    for r, p in zip(rows, preds, strict=True):
        want, got = expected_agent(r), p.recommended_agent
        confusion[want][got] += 1
        correct += want == got
        under += _RANK[got] < _RANK[want]
        over += _RANK[got] > _RANK[want]
        comp_correct += p.complexity == r.complexity
        intent_correct += p.intent == r.intent
        scope_correct += p.in_scope == r.in_scope
        if want == "expert":
            high += 1
            high_hit += got == "expert"
            high_fast += got == "fast"
    return {
        "n": n,
        "tier_accuracy": correct / n if n else 0.0,
        "complexity_accuracy": comp_correct / n if n else 0.0,
        "intent_accuracy": intent_correct / n if n else 0.0,
        "scope_accuracy": scope_correct / n if n else 0.0,
        "under_routing_rate": under / n if n else 0.0,
        "over_routing_rate": over / n if n else 0.0,
        "high_recall": high_hit / high if high else 1.0,
        "high_to_fast_rate": high_fast / high if high else 0.0,
        "n_high": high,
        "confusion": confusion,
    }


# -- money and threshold suggestions (for `switchyard route eval`) ----------------------------
def tier_request_cost(settings: Settings) -> dict[str, float]:
    """Estimated USD per request on each tier (settings' prices x the bench-measured typical calls)."""
    from switchyard.llm.accounting import typical_request_cost

    return {tier: typical_request_cost(tier, settings) for tier in TIERS}


# The article's traffic mix by true complexity (also the bench's default workload mix).
ARTICLE_MIX: dict[str, float] = {"low": 0.65, "medium": 0.30, "high": 0.05}


def mix_overspend(
    rows: Sequence[Example], agents: Sequence[str], price: dict[str, float], mix: dict[str, float] | None = None
) -> float:
    """Routed cost / perfectly-routed cost - 1 on traffic in ``mix`` (no cache), priced per tier.

    The labelled set's own mix is not the production one (it over-samples hard requests), so each
    complexity's mean routed and ideal price is weighted by its share of real traffic instead.
    This is what `switchyard bench` measures as the gap to the oracle, without the cache.
    """
    mix = mix or ARTICLE_MIX
    routed = ideal = 0.0
    for c, share in mix.items():
        idx = [i for i, r in enumerate(rows) if r.complexity == c]
        if idx:
            routed += share * float(np.mean([price[agents[i]] for i in idx]))
            ideal += share * float(np.mean([price[expected_agent(rows[i])] for i in idx]))
    return routed / ideal - 1.0 if ideal else 0.0


def routing_costs(rows: Sequence[Example], preds: Sequence[Classification],
                  settings: Settings) -> dict[str, float]:
    """Dollars: what the routed mix costs, vs perfect routing and vs sending all to the expert."""
    price = tier_request_cost(settings)
    penalties = settings.classifier.error_costs

    routed = ideal = over_usd = under_usd = penalty = 0.0
    for r, p in zip(rows, preds, strict=True):
        want, got = expected_agent(r), p.recommended_agent
        routed += price[got]
        ideal += price[want]
        if _RANK[got] > _RANK[want]:
            over_usd += price[got] - price[want]
        elif _RANK[got] < _RANK[want]:
            under_usd += price[want] - price[got]
        penalty += penalties[COMPLEXITY_FOR_TIER[want]][COMPLEXITY_FOR_TIER[got]]
    n = max(1, len(rows))
    return {
        "mix_overspend_pct": 100.0 * mix_overspend(rows, [p.recommended_agent for p in preds], price),
        "routed_usd": routed,
        "ideal_usd": ideal,
        "all_expert_usd": price["expert"] * len(rows),
        "over_routing_extra_usd": over_usd,
        "under_routing_saved_usd": under_usd,
        "error_penalty_per_request": penalty / n,
        **{f"usd_per_{t}_request": v for t, v in price.items()},
    }


def _redecide(p: Classification, costs: np.ndarray) -> str:
    if not p.in_scope or not p.scores:
        return p.recommended_agent
    vec = np.array([p.scores.get(c, 0.0) for c in ("low", "medium", "high")])
    return TIER_FOR_COMPLEXITY[("low", "medium", "high")[decide(vec, costs)]]


def suggest_thresholds(rows: Sequence[Example], preds: Sequence[Classification],
                       settings: Settings) -> dict:
    """What-if tables for the two knobs a user tunes on their own traffic.

    ``under_weight``: scale the under-routing entries of ``classifier.error_costs`` and re-decide
    from the stored scores. ``cascade``: for each confidence threshold, how many requests would go
    to the LLM and how accurate the local classifier is on them vs the rest.
    """
    base = settings.classifier.error_costs
    levels = ("low", "medium", "high")
    scales = []
    for scale in (0.25, 0.5, 1.0, 2.0, 4.0):
        costs = cost_matrix({
            t: {r: v * (scale if levels.index(r) < levels.index(t) else 1.0) for r, v in row.items()}
            for t, row in base.items()
        }, settings=settings)
        agents = [_redecide(p, costs) for p in preds]
        fake = [p.model_copy(update={"recommended_agent": a}) for p, a in zip(preds, agents, strict=True)]
        rep = routing_report(rows, fake)
        scales.append({"under_weight": scale, **{k: rep[k] for k in (
            "tier_accuracy", "high_recall", "high_to_fast_rate", "over_routing_rate", "under_routing_rate")}})
    ok = [s for s in scales if s["high_recall"] >= 0.95 and s["high_to_fast_rate"] <= 0.01]
    best_scale = max(ok, key=lambda s: s["tier_accuracy"])["under_weight"] if ok else 4.0
    cascade = []
    for thr in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
        below = [(r, p) for r, p in zip(rows, preds, strict=True) if p.confidence < thr]
        above = [(r, p) for r, p in zip(rows, preds, strict=True) if p.confidence >= thr]
        acc = lambda pairs: (  # noqa: E731
            sum(expected_agent(r) == p.recommended_agent for r, p in pairs) / len(pairs) if pairs else None
        )
        cascade.append({"threshold": thr, "share_to_llm": len(below) / max(1, len(rows)),
                        "local_acc_below": acc(below), "local_acc_above": acc(above)})
    # Suggest the lowest threshold above which local accuracy is >= 97%.
    good = [c for c in cascade if c["local_acc_above"] is not None and c["local_acc_above"] >= 0.97]
    return {
        "under_weight": scales,
        "suggested_under_weight": best_scale,
        "cascade": cascade,
        "suggested_cascade_threshold": good[0]["threshold"] if good else 0.95,
    }
