"""Tokens, cost and latency per model call, from the provider's reported usage.

Each call is priced at the rates of the model actually called (a per-request override is priced
as itself, from the catalogue; see :mod:`switchyard.llm.rules`). Cached input tokens are billed at
the cached rate; reasoning tokens are recorded and billed as output, as providers do. When a
server reports no usage, tokens are estimated (~4 characters per token), the record says
``usage_estimated: true`` and a warning is logged once per model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from switchyard.core.settings import Settings, TierModel
from switchyard.llm.rules import ModelPrice, model_price
from switchyard.llm.usage import estimated_usage

log = logging.getLogger(__name__)
_warned_no_usage: set[str] = set()

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


def typical_calls(tier: str, settings: Settings) -> list[tuple[int, int]]:
    """The tier's typical calls as (input, output incl. hidden reasoning) tokens."""
    cfg = settings.tier(tier)
    reasoning = cfg.simulated_reasoning_tokens if cfg.reasoning_effort else 0
    return [(tin, tout + reasoning) for tin, tout in TYPICAL_CALLS[tier]]


def typical_request_cost(tier: str, settings: Settings) -> float:
    """Estimated USD of one request answered by ``tier``: list prices x typical tokens."""
    cfg = settings.tier(tier)
    return sum(call_cost_usd(tin, tout, cfg) for tin, tout in typical_calls(tier, settings))


# The request text (with its conversation) the expert's typical calls were measured with: the
# mean estimate_tokens() of the held-out workload's high-complexity questions (no conversation).
TYPICAL_EXPERT_REQUEST_TOKENS = 23


def expert_counterfactual_usd(usage: Iterable[dict[str, Any]], *, request_tokens: int,
                              answered_by: str | None, cache_hit: bool, errored: bool,
                              settings: Settings) -> float:
    """What this request would have cost had it gone to the expert tier with no cache: the
    all-expert baseline of ``switchyard bench``, for one request in production.

    * The expert answered it (not from the cache): what its expert calls actually cost.
    * It got no answer (refused at intake, every tier failed): what it actually cost; no saving
      is claimed on a request nobody answered.
    * Otherwise (a cheaper tier answered, or the cache did): the expert's typical calls
      (:data:`TYPICAL_CALLS`, with the configured reasoning) at the expert's list prices, each
      call's input grown by the request's own tokens beyond the typical expert request
      (``request_tokens``: the request text and the conversation sent with it).

    ``docs/observability.md`` states the same definition for the metrics built on it.
    """
    lines = list(usage)
    if errored:
        return round(sum(float(u.get("cost_usd", 0.0)) for u in lines), 8)
    if answered_by == "expert" and not cache_hit:
        return round(sum(float(u.get("cost_usd", 0.0)) for u in lines
                         if u.get("tier") == "expert"), 8)
    extra = max(0, int(request_tokens) - TYPICAL_EXPERT_REQUEST_TOKENS)
    cfg = settings.tier("expert")
    return round(sum(call_cost_usd(tin + extra, tout, cfg)
                     for tin, tout in typical_calls("expert", settings)), 8)


def call_cost_usd(input_tokens: int, output_tokens: int, prices: TierModel | ModelPrice,
                  cached_input_tokens: int = 0) -> float:
    """USD for one call; ``input_tokens`` includes the cached ones, ``output_tokens`` reasoning."""
    cached = min(max(cached_input_tokens, 0), input_tokens)
    return ((input_tokens - cached) * prices.input_per_m + cached * prices.cached_input_per_m
            + output_tokens * prices.output_per_m) / 1_000_000


def _model_used(message: AIMessage, cfg: TierModel) -> str:
    meta = message.response_metadata or {}
    # The model asked for (the factory's models say which) before the name the server answered.
    name = str(meta.get("stands_in_for") or meta.get("requested_model") or meta.get("model_name")
               or meta.get("model") or "")
    return name or cfg.model


def usage_record(step: str, tier: str, prices: TierModel | ModelPrice, message: AIMessage, *,
                 prompt: Sequence[BaseMessage] | None = None) -> dict[str, Any]:
    """One model call's accounting line, as stored in the graph state's ``usage`` list.

    ``prices``: the :class:`ModelPrice` of the model called (``ModelFactory.price(tier, override)``),
    or the tier's settings, in which case the model named in the response is priced (so an
    override is still priced as itself). ``prompt`` lets a usage-less answer's input be estimated.
    """
    meta = message.response_metadata or {}
    price = prices if isinstance(prices, ModelPrice) else model_price(prices, _model_used(message, prices))
    usage = message.usage_metadata
    estimated = bool(meta.get("usage_estimated"))
    if not usage:
        usage, estimated = estimated_usage(prompt or [], message), True
        if not prompt:
            usage["input_tokens"] = 0  # unknown without the prompt; the flag says so
    if estimated and price.model not in _warned_no_usage:
        _warned_no_usage.add(price.model)
        log.warning("model %s reported no token usage; its cost is estimated from text length "
                    "(~4 characters per token)", price.model)
    inp = int(usage.get("input_tokens", 0) or 0)
    out = int(usage.get("output_tokens", 0) or 0)
    cached = int((usage.get("input_token_details") or {}).get("cache_read", 0) or 0)
    reasoning = int((usage.get("output_token_details") or {}).get("reasoning", 0) or 0)
    return {
        "step": step,
        "tier": tier,
        "model": meta.get("model_name") or price.model,
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "output_tokens": out,
        "reasoning_tokens": reasoning,
        "cost_usd": round(call_cost_usd(inp, out, price, cached), 8),
        "price_source": price.source,
        "usage_estimated": estimated,
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
        "usage_estimated": any(r.get("usage_estimated") for r in records),
    }
