"""The model factory: chat models, request rules, prices, rate limits and concurrency per tier.

One :class:`ModelFactory` per configuration (the graph gets it injected). For each tier it builds

- the offline model when ``SWITCHYARD_OFFLINE=true`` or no key/server is configured anywhere;
- ``ChatOpenAI`` for ``openai`` and ``local`` tiers, against the tier's ``base_url`` (default
  ``OPENAI_BASE_URL``) with the tier's key (``api_key_env``, default ``OPENAI_API_KEY``);
- any other provider through langchain's ``init_chat_model`` (its package must be installed).

Request parameters follow the model's catalogue family (:mod:`switchyard.llm.rules`), including
for per-request overrides. Retries: the OpenAI SDK's own retry (``max_retries`` per tier) retries
only transient failures (timeouts, connection errors, 408/409/429, 5xx; honouring Retry-After), so
a 400 fails at once. It sits inside the chat model, unlike ``Runnable.with_retry``, which would
hide ``bind_tools``/``with_structured_output`` from the agents.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.rate_limiters import BaseRateLimiter, InMemoryRateLimiter

from switchyard.core.loops import PerLoop
from switchyard.core.settings import OPENAI_COMPATIBLE, ConfigError, Settings
from switchyard.llm.offline import OfflineChatModel
from switchyard.llm.rules import ModelPrice, RequestRules, model_price, request_rules
from switchyard.llm.waits import TimedRateLimiter

# The OpenAI SDK will not build a client without a key, even for a server that ignores it
# (llama.cpp, Ollama, vLLM without --api-key). This is sent instead; it is not a secret.
NO_KEY_PLACEHOLDER = "switchyard-no-key"


class SharedLimits(Protocol):
    """Rate limits and concurrency caps every replica shares (``switchyard.llm.pg_limits.PgLimits``)."""

    def rate_limiter(self, name: str, requests_per_second: float,
                     max_bucket_size: float = 1.0) -> BaseRateLimiter: ...

    def slot(self, name: str, limit: int) -> AbstractAsyncContextManager[None]: ...


class TierGate:
    """Caps in-flight model calls per tier: one asyncio semaphore per running event loop."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._semaphores: PerLoop[asyncio.Semaphore] = PerLoop(lambda: asyncio.Semaphore(limit))

    def semaphore(self) -> asyncio.Semaphore:
        return self._semaphores.get()


class ModelFactory:
    """Chat models and their limits for one :class:`Settings`."""

    def __init__(self, settings: Settings, shared: SharedLimits | None = None, *,
                 similarity: Callable[[str, Sequence[str]], np.ndarray] | None = None) -> None:
        self.settings = settings
        # With a shared database the limits hold across replicas; without, per process.
        self.shared = shared
        # The offline model picks tools by sentence similarity (the front door passes the
        # encoder's); without it, by word overlap alone.
        self.similarity = similarity
        self._models: dict[tuple[Any, ...], BaseChatModel] = {}
        self._limiters: dict[str, BaseRateLimiter] = {}
        self._gates: dict[str, TierGate] = {}
        self._http: dict[str, Any] = {}
        # Model calls of this process holding a slot, per tier (the metrics' gauge).
        self._in_use: dict[str, int] = {}
        self._lock = threading.RLock()

    @property
    def offline(self) -> bool:
        return self.settings.use_offline_model

    # -- rules and prices --
    def rules(self, tier: str, override: str | None = None) -> RequestRules:
        """What a call to ``override`` (or the tier's model) on ``tier`` sends. The offline
        stand-in is no small model, whatever it stands in for: it gets the normal prompt."""
        rules = request_rules(self.settings.tier(tier), override)
        if self.is_offline(tier):
            rules = dataclasses.replace(rules, small=False, cut_repetition=False, extra_body={})
        return rules

    def is_offline(self, tier: str) -> bool:
        """Whether ``tier`` is answered by the offline stand-in."""
        return self.offline or self.settings.tier(tier).provider == "offline"

    def price(self, tier: str, override: str | None = None) -> ModelPrice:
        """What a call to ``override`` (or the tier's model) on ``tier`` costs."""
        return model_price(self.settings.tier(tier), override)

    # -- models --
    def chat_model(self, tier: str, override: str | None = None) -> BaseChatModel:
        """The tier's chat model (or ``override`` with its own rules), cached per factory.

        Safe across event loops: its HTTP pool is per running loop (:mod:`switchyard.llm.http`).
        """
        return self._cached((tier, override or None, 1.0), lambda: self._build(tier, override))

    def with_budget(self, tier: str, factor: float, override: str | None = None) -> BaseChatModel:
        """The same model with ``factor`` times the completion budget (visible + reasoning), for
        a retry after :func:`switchyard.llm.answers.is_unusable` said ``"length"``."""
        if not factor > 0:
            raise ValueError(f"budget factor must be > 0, got {factor!r}")
        return self._cached((tier, override or None, float(factor)),
                            lambda: self._build(tier, override, factor=factor))

    def classifier_model(self) -> BaseChatModel:
        """The LLM classifier's model: the fast tier's server, ``classifier.llm_model`` (default the
        fast tier's model), its own short timeout and at most one retry, temperature 0."""
        cls = self.settings.classifier
        return self._cached(("classifier", cls.llm_model, 1.0), lambda: self._build(
            "fast", cls.llm_model, timeout_s=cls.llm_timeout_s, max_retries=cls.llm_max_retries,
            temperature=0.0))

    def classifier_price(self) -> ModelPrice:
        return self.price("fast", self.settings.classifier.llm_model)

    def check(self) -> None:
        """Build every tier's model once: a missing key or provider package fails here, with a
        :class:`ConfigError`, instead of on the first request."""
        for tier in self.settings.tiers:
            self.chat_model(tier)

    # -- limits --
    def gate(self, tier: str) -> TierGate:
        with self._lock:
            gate = self._gates.get(tier)
            if gate is None:
                gate = self._gates[tier] = TierGate(self.settings.tier(tier).max_concurrency)
            return gate

    @asynccontextmanager
    async def slot(self, tier: str) -> AsyncIterator[None]:
        """Hold one of the tier's ``max_concurrency`` in-flight slots for a model call: across
        every replica with a shared database, else in this process."""
        held = (self.shared.slot(f"tier:{tier}", self.settings.tier(tier).max_concurrency)
                if self.shared is not None else self.gate(tier).semaphore())
        async with held:
            with self._lock:
                self._in_use[tier] = self._in_use.get(tier, 0) + 1
            try:
                yield
            finally:
                with self._lock:
                    self._in_use[tier] -= 1

    def slots_in_use(self) -> dict[str, int]:
        """Slots this process's model calls hold now, per tier (every tier, 0 when idle)."""
        with self._lock:
            return {tier: self._in_use.get(tier, 0) for tier in self.settings.tiers}

    def rate_limiter(self, tier: str) -> BaseRateLimiter:
        """One limiter per tier, shared by every model (and override) the factory builds for it;
        with a shared database, by every replica too."""
        with self._lock:
            limiter = self._limiters.get(tier)
            if limiter is None:
                rps = self.settings.tier(tier).requests_per_second
                burst = max(1, int(rps))
                if self.shared is not None:
                    limiter = self.shared.rate_limiter(f"tier:{tier}", rps, burst)
                else:
                    limiter = InMemoryRateLimiter(requests_per_second=rps,
                                                  check_every_n_seconds=0.01,
                                                  max_bucket_size=burst)
                # Timed: each call's wait goes on its usage line (switchyard.llm.waits).
                limiter = self._limiters[tier] = TimedRateLimiter(limiter)
            return limiter

    # -- construction --
    def _cached(self, key: tuple[Any, ...], build: Any) -> BaseChatModel:
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = self._models[key] = build()
            return model

    def _build(self, tier: str, override: str | None, *, factor: float = 1.0,
               timeout_s: float | None = None, max_retries: int | None = None,
               temperature: float | None = None) -> BaseChatModel:
        cfg = self.settings.tier(tier)
        rules = request_rules(cfg, override, factor)
        if self.is_offline(tier):
            # provider "offline": this tier alone on the offline stand-in (e.g. a local fast
            # tier tried beside offline standard and expert tiers, with no API key anywhere).
            return self._offline(tier, rules, factor)
        temp = rules.temperature if temperature is None or rules.temperature is None else temperature
        common: dict[str, Any] = {
            "timeout": timeout_s if timeout_s is not None else cfg.timeout_s,
            "max_retries": max_retries if max_retries is not None else cfg.max_retries,
            "rate_limiter": self.rate_limiter(tier),
        }
        if cfg.provider in OPENAI_COMPATIBLE:
            return self._openai(tier, rules, temp, common)
        return self._other_provider(tier, rules, temp, common)

    def _offline(self, tier: str, rules: RequestRules, factor: float) -> OfflineChatModel:
        cfg = self.settings.tier(tier)
        # When simulating an API its rate limit applies too, so benchmarks queue the way a real
        # deployment would; without simulation nothing is throttled.
        simulate = self.settings.simulate_latency
        return OfflineChatModel(
            tier=tier, stands_in_for=rules.model, simulate_latency=simulate,
            ttft_ms=cfg.ttft_ms, tokens_per_s=cfg.tokens_per_s,
            max_tokens=max(1, int(cfg.max_tokens * factor)),
            reasoning_tokens=cfg.simulated_reasoning_tokens if rules.reasoning_effort else 0,
            rate_limiter=self.rate_limiter(tier) if simulate else None,
            similarity=self.similarity,
        )

    def _openai(self, tier: str, rules: RequestRules, temperature: float | None,
                common: dict[str, Any]) -> BaseChatModel:
        from switchyard.llm.metered import MeteredChatOpenAI

        cfg = self.settings.tier(tier)
        base_url = self.settings.tier_base_url(tier)
        key = self.settings.tier_api_key(tier)
        if cfg.is_local and not base_url:
            raise ConfigError(f"tier {tier!r} has provider 'local' but no base_url: set "
                              f"SWITCHYARD_TIERS__{tier.upper()}__BASE_URL (or OPENAI_BASE_URL)")
        if not key:
            if cfg.api_key_env and not base_url:
                raise ConfigError(f"tier {tier!r}: the environment variable {cfg.api_key_env} "
                                  "named by its api_key_env is not set")
            if not base_url:
                raise ConfigError(f"tier {tier!r} has no API key and no base_url: set "
                                  "OPENAI_API_KEY, the tier's api_key_env or base_url, or "
                                  "SWITCHYARD_OFFLINE=true")
            key = NO_KEY_PLACEHOLDER
        kwargs: dict[str, Any] = {
            **common,
            "model": rules.model,
            "base_url": base_url,
            "api_key": key,
            "max_completion_tokens": rules.max_completion_tokens,
            "stream_usage": True,
            "http_async_client": self._http_client(tier),
        }
        if temperature is not None:
            kwargs["temperature"] = temperature
        if rules.reasoning_effort:
            kwargs["reasoning_effort"] = rules.reasoning_effort
        extra_body = dict(rules.extra_body)
        if rules.max_tokens is not None:
            # ChatOpenAI renames max_tokens to max_completion_tokens; extra_body goes out as is.
            extra_body["max_tokens"] = rules.max_tokens
        if extra_body:
            kwargs["extra_body"] = extra_body
        if rules.cut_repetition:
            # Streamed, so a repeating answer is cut as it is generated (metered.py); closing
            # the response stops the server's generation.
            kwargs["streaming"] = True
            kwargs["cut_repetition"] = True
        return MeteredChatOpenAI(**kwargs)

    def _other_provider(self, tier: str, rules: RequestRules, temperature: float | None,
                        common: dict[str, Any]) -> BaseChatModel:
        cfg = self.settings.tier(tier)
        try:
            from langchain.chat_models import init_chat_model
        except ImportError:  # langchain-classic (with langchain-community) keeps the same entry
            from langchain_classic.chat_models import init_chat_model  # type: ignore[no-redef]
        kwargs: dict[str, Any] = {**common, "max_tokens": rules.max_completion_tokens}
        if temperature is not None:
            kwargs["temperature"] = temperature
        if cfg.base_url:
            kwargs["base_url"] = cfg.base_url
        if cfg.api_key_env:
            key = self.settings.tier_api_key(tier)
            if not key:
                raise ConfigError(f"tier {tier!r}: the environment variable {cfg.api_key_env} "
                                  "named by its api_key_env is not set")
            kwargs["api_key"] = key
        try:
            return init_chat_model(rules.model, model_provider=cfg.provider, **kwargs)
        except ImportError as exc:
            raise ConfigError(f"tier {tier!r} uses provider {cfg.provider!r}, whose package is "
                              f"not installed: {exc}") from None

    def _http_client(self, tier: str) -> Any:
        # The OpenAI SDK (~1-3 s to import) loads with the first real model, never for a
        # request the cache answers.
        from switchyard.llm.http import async_http_client

        with self._lock:
            client = self._http.get(tier)
            if client is None:
                client = self._http[tier] = async_http_client(
                    self.settings.tier(tier).max_concurrency)
            return client
