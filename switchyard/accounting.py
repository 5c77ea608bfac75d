"""Tokens, cost and latency per model call, from each call's ``usage_metadata``.

Prices are the tier's configured USD per 1M input/output tokens (see ``settings.TierModel``);
reasoning tokens are billed as output tokens, as providers do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.messages import AIMessage

from switchyard.settings import Settings, TierModel, get_settings

# Typical model calls per request of each tier as (input tokens, visible output tokens),
# measured with `switchyard bench` on the bundled held-out workload (offline model):
# fast = one answer call; standard = tool-choosing call + answer; expert = plan, agent (tools),
# reflect, synthesize. Hidden reasoning tokens are added per call from the tier's settings, so
# estimates follow the configured reasoning budget. Used by `switchyard plan`'s projections,
# `route eval`'s dollar figures and the classifier's price-aware routing decision.
TYPICAL_CALLS: dict[str, list[tuple[int, int]]] = {
    "fast": [(910, 390)],
    "standard": [(1860, 30), (2160, 360)],
    "expert": [(400, 110), (2850, 190), (890, 20), (440, 330)],
}


def typical_calls(tier: str, settings: Settings | None = None) -> list[tuple[int, int]]:
    """The tier's typical calls as (input, output incl. hidden reasoning) tokens."""
    cfg = (settings or get_settings()).tier(tier)
    reasoning = cfg.simulated_reasoning_tokens if cfg.reasoning_effort else 0
    return [(tin, tout + reasoning) for tin, tout in TYPICAL_CALLS[tier]]


def typical_request_cost(tier: str, settings: Settings | None = None) -> float:
    """Estimated USD of one request answered by ``tier``: list prices x typical tokens."""
    cfg = (settings or get_settings()).tier(tier)
    return sum(call_cost_usd(tin, tout, cfg) for tin, tout in typical_calls(tier, settings))


def call_cost_usd(input_tokens: int, output_tokens: int, prices: TierModel) -> float:
    return (input_tokens * prices.input_per_m + output_tokens * prices.output_per_m) / 1_000_000


def usage_record(step: str, tier: str, prices: TierModel, message: AIMessage) -> dict[str, Any]:
    """One model call's accounting line, as stored in the graph state's ``usage`` list."""
    usage = message.usage_metadata or {}
    inp = int(usage.get("input_tokens", 0))
    out = int(usage.get("output_tokens", 0))
    reasoning = int((usage.get("output_token_details") or {}).get("reasoning", 0) or 0)
    meta = message.response_metadata or {}
    return {
        "step": step,
        "tier": tier,
        "model": meta.get("model_name") or prices.model,
        "input_tokens": inp,
        "output_tokens": out,
        "reasoning_tokens": reasoning,
        "cost_usd": round(call_cost_usd(inp, out, prices), 8),
        "simulated_ms": float(meta.get("simulated_latency_ms", 0.0) or 0.0),
    }


def totals(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    records = list(records)
    return {
        "input_tokens": sum(r["input_tokens"] for r in records),
        "output_tokens": sum(r["output_tokens"] for r in records),
        "cost_usd": round(sum(r["cost_usd"] for r in records), 8),
        "simulated_ms": round(sum(r.get("simulated_ms", 0.0) for r in records), 1),
        "calls": len(records),
    }
