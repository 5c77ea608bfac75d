"""The routing record: one routed request's answer and everything that explains it.

One schema for every way of asking: the CLI's ``--json``, the HTTP API (``POST /v1/chat``, the
stream's ``done`` event) and the bench all produce a :class:`RoutingRecord`, built from the graph's
final state by :meth:`RoutingRecord.from_state`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AnswerSource = Literal["model", "extractive", "fixed", "cache"]


class RoutingRecord(BaseModel):
    """The answer, who answered it, what it cost and why it was routed there."""

    model_config = ConfigDict(extra="forbid")

    answer: str = Field(description="The answer, or a clear error message when ``error`` is set.")
    thread_id: str | None = Field(
        default=None, description="The conversation to continue; None for a one-shot request.")
    run_id: str | None = Field(
        default=None, description="This request's run: its LangSmith trace id when tracing is "
                                  "on, and the id an outcome (feedback) is recorded against.")
    agent: str | None = Field(description="Tier whose agent wrote the answer (a cache hit names "
                                          "the tier that wrote the cached answer).")
    route: str | None = Field(description="Tier the router chose.")
    route_reason: str | None = Field(
        default=None, description="Why the route differs from the classification, if it does.")
    fallback_from: list[str] = Field(
        default_factory=list,
        description="Tiers whose provider failed this turn, in order, before another answered.")
    fallback_reasons: list[str] = Field(
        default_factory=list,
        description="Why each tier in fallback_from failed: timeout, unreachable, rate_limited, "
                    "context_overflow, unusable_answer, provider_error or error.")
    complexity: str | None
    intent: str | None
    confidence: float | None
    in_scope: bool | None = None
    cache_hit: bool
    similarity: float | None
    cache: dict[str, Any] = Field(default_factory=dict,
                                  description="The cache verdict: hit, match, partition, reason...")
    cost_usd: float
    counterfactual_usd: float = Field(
        default=0.0, description="What the request would have cost had it gone to the expert "
                                 "tier with no cache (docs/observability.md: the definition).")
    latency_ms: float | None
    model: str | None
    tools_used: list[str] = Field(default_factory=list)
    sources: list[dict[str, Any]] = Field(default_factory=list)
    tokens: dict[str, int] = Field(default_factory=dict)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    usage: list[dict[str, Any]] = Field(default_factory=list,
                                        description="One line per model call this request paid for.")
    model_calls: int = Field(default=0, description="Model calls this request paid for (0 for a "
                                                    "cache hit with the local classifier).")
    classification: dict[str, Any] | None = None
    answer_source: AnswerSource | None = Field(
        default=None,
        description="Where the answer text comes from: ``model`` (the tier's model, which for the "
                    "fast tier passed the grounding check), ``extractive`` (the fast tier's "
                    "model answer failed the check and was replaced by the extract of its "
                    "passages and facts; never cached), ``fixed`` (a small model's out-of-scope "
                    "deflection, no model call) or ``cache``; None for an error.")
    exploration: dict[str, Any] | None = Field(
        default=None, description="How the route was drawn: the router's ``policy`` tier, "
                                  "whether this request ``explored`` a neighbouring tier, and "
                                  "the ``propensity`` (probability) of the tier taken; None when "
                                  "the tier was forced.")
    grounding: dict[str, Any] | None = Field(
        default=None, description="The fast tier's grounding verdict on the model's answer: "
                                  "status, reasons and scores (None when not checked).")
    error: str | None = None
    startup_ms: float | None = Field(
        default=None, description="CLI only: the process's start-up before the request (imports, "
                                  "models, index); never part of latency_ms.")

    @classmethod
    def from_state(cls, state: dict[str, Any], *, thread_id: str | None = None,
                   run_id: str | None = None) -> RoutingRecord:
        """Flatten the graph's final state."""
        cls_ = state.get("classification") or {}
        if hasattr(cls_, "model_dump"):
            cls_ = cls_.model_dump()
        cache = dict(state.get("cache") or {})
        usage = list(state.get("usage") or [])
        prov = state.get("provenance") or {}
        source: AnswerSource | None = None
        if state.get("error") is None and cache.get("hit"):
            source = "cache"
        elif state.get("error") is None and state.get("answer"):
            source = prov.get("answer_source") or "model"
        return cls(
            answer=state.get("answer", "") or "",
            thread_id=thread_id,
            run_id=run_id,
            agent=state.get("agent") or state.get("route") or None,
            route=state.get("route"),
            route_reason=state.get("route_reason"),
            fallback_from=list(state.get("fallback_from") or []),
            fallback_reasons=list(state.get("fallback_reasons") or []),
            complexity=cls_.get("complexity"),
            intent=cls_.get("intent"),
            confidence=cls_.get("confidence"),
            in_scope=cls_.get("in_scope"),
            cache_hit=bool(cache.get("hit")),
            similarity=cache.get("similarity"),
            cache=cache,
            cost_usd=round(float(state.get("cost_usd", 0.0) or 0.0), 8),
            counterfactual_usd=round(float(state.get("counterfactual_usd", 0.0) or 0.0), 8),
            latency_ms=state.get("latency_ms"),
            model=state.get("model") or None,
            tools_used=list(state.get("tools_used") or []),
            sources=list(state.get("sources") or []),
            tokens=dict(state.get("tokens") or {}),
            timings_ms=dict(state.get("timings") or {}),
            usage=usage,
            model_calls=len(usage),
            classification=cls_ or None,
            answer_source=source,
            exploration=state.get("exploration"),
            grounding=None if source == "cache" else prov.get("grounding"),
            error=state.get("error"),
        )
