"""Build the chat model for a tier from the one settings object.

With ``OPENAI_API_KEY`` set (and ``SWITCHYARD_OFFLINE`` not), tiers use ``ChatOpenAI`` against
``OPENAI_BASE_URL`` (OpenAI, an Azure-style gateway, vLLM, Ollama or llama.cpp's server), with
retries and langchain-core's ``InMemoryRateLimiter`` modelled on the provider's limits. Without a
key they use :class:`OfflineChatModel`, which stands in for the configured model and says so.
Each tier also has a concurrency cap (``TierGate``) so a burst cannot exceed the provider's limits.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import lru_cache

from langchain_core.language_models import BaseChatModel
from langchain_core.rate_limiters import InMemoryRateLimiter

from switchyard.llm.offline import OfflineChatModel
from switchyard.settings import Settings, get_settings


@lru_cache(maxsize=8)
def _rate_limiter(tier: str, rps: float) -> InMemoryRateLimiter:
    # One limiter per tier per process, shared by every request on that tier.
    return InMemoryRateLimiter(requests_per_second=rps, check_every_n_seconds=0.01,
                               max_bucket_size=max(1, int(rps)))


@dataclass
class TierGate:
    """Caps in-flight model calls per tier (asyncio semaphore per event loop)."""

    limit: int
    _semaphores: dict[int, asyncio.Semaphore] = field(default_factory=dict)

    def semaphore(self) -> asyncio.Semaphore:
        loop_id = id(asyncio.get_running_loop())
        sem = self._semaphores.get(loop_id)
        if sem is None:
            sem = self._semaphores[loop_id] = asyncio.Semaphore(self.limit)
        return sem


@lru_cache(maxsize=8)
def tier_gate(tier: str, limit: int) -> TierGate:
    return TierGate(limit)


def chat_model_for(tier: str, *, override: str | None = None,
                   settings: Settings | None = None) -> BaseChatModel:
    settings = settings or get_settings()
    cfg = settings.tier(tier)
    model_name = override or cfg.model
    if settings.use_offline_model:
        return _offline_model(tier, model_name, settings)
    from langchain_openai import ChatOpenAI

    kwargs: dict = {
        "model": model_name,
        "base_url": settings.openai_base_url,
        "api_key": settings.openai_api_key,
        "max_tokens": cfg.max_tokens,
        "timeout": cfg.timeout_s,
        "max_retries": cfg.max_retries,
        "rate_limiter": _rate_limiter(tier, cfg.requests_per_second),
        "stream_usage": True,
    }
    if cfg.reasoning_effort:
        # Reasoning models take an effort setting and reject temperature.
        kwargs["reasoning_effort"] = cfg.reasoning_effort
    else:
        kwargs["temperature"] = cfg.temperature
    return ChatOpenAI(**kwargs)


@lru_cache(maxsize=32)
def _offline_cached(tier: str, model_name: str, simulate: bool, ttft: float, tps: float,
                    max_tokens: int, reasoning: int, rps: float) -> OfflineChatModel:
    # When simulating an API, its rate limit applies too (the same limiter ChatOpenAI gets), so
    # benchmarks queue the way a real deployment would; without simulation nothing is throttled.
    return OfflineChatModel(
        tier=tier, stands_in_for=model_name, simulate_latency=simulate, ttft_ms=ttft,
        tokens_per_s=tps, max_tokens=max_tokens, reasoning_tokens=reasoning,
        rate_limiter=_rate_limiter(tier, rps) if simulate else None,
    )


def _offline_model(tier: str, model_name: str, settings: Settings) -> OfflineChatModel:
    cfg = settings.tier(tier)
    return _offline_cached(
        tier, model_name, settings.simulate_latency, cfg.ttft_ms, cfg.tokens_per_s,
        cfg.max_tokens, cfg.simulated_reasoning_tokens if cfg.reasoning_effort else 0,
        cfg.requests_per_second,
    )


class ModelFactory:
    """Chat models and per-tier concurrency gates for one configuration (injected into graphs)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._gates: dict[str, TierGate] = {}

    def chat_model(self, tier: str, override: str | None = None) -> BaseChatModel:
        return chat_model_for(tier, override=override, settings=self.settings)

    def gate(self, tier: str) -> TierGate:
        gate = self._gates.get(tier)
        if gate is None:
            gate = self._gates[tier] = TierGate(self.settings.tier(tier).max_concurrency)
        return gate
