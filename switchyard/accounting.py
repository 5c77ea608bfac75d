"""Tokens, cost and latency per model call, from each call's ``usage_metadata``.

Prices are the tier's configured USD per 1M input/output tokens (see ``settings.TierModel``);
reasoning tokens are billed as output tokens, as providers do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.messages import AIMessage

from switchyard.settings import TierModel


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
