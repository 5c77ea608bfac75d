"""Semantic cache: answers repeats for free, never someone else's answer, never a wrong one.

Graph usage (see ``docs`` in each module)::

    policy = cache_policy(complexity=c, intent=i, in_scope=s, text=text)
    if policy.cacheable:
        part = Partition.for_request(tenant=..., user_id=..., personal=..., tier=..., ...)
        verdict = await get_cache().alookup(text, embedding, part)
    ...
    ok, why = is_storable(answer, errored=..., truncated=..., refused=..., tool_failed=..., strategic=...)
    if ok: await get_cache().astore(text, embedding, part, CachedAnswer.create(..., ttl_s=policy.ttl_s))
"""

from __future__ import annotations

import threading

from switchyard.cache.base import (
    CachedAnswer,
    CacheVerdict,
    Partition,
    SemanticCache,
    flight_key,
    intent_key,
    user_scope,
)
from switchyard.cache.guard import extract_facts, guard_conflict, normalize_text
from switchyard.cache.policy import (
    CachePolicy,
    cache_policy,
    is_storable,
    is_strategic,
    request_intent_key,
)
from switchyard.cache.singleflight import FlightTicket

__all__ = [
    "CachePolicy",
    "CacheVerdict",
    "CachedAnswer",
    "FlightTicket",
    "Partition",
    "SemanticCache",
    "cache_policy",
    "extract_facts",
    "flight_key",
    "get_cache",
    "guard_conflict",
    "install_cache",
    "intent_key",
    "is_storable",
    "is_strategic",
    "normalize_text",
    "request_intent_key",
    "reset_cache",
    "user_scope",
]

_lock = threading.Lock()
_instance: SemanticCache | None = None


def get_cache() -> SemanticCache:
    """Process singleton: embedded FAISS backend persisted under ``settings.cache_dir``."""
    global _instance
    with _lock:
        if _instance is None:
            from switchyard.settings import get_settings

            settings = get_settings()
            if settings.cache.backend == "faiss":
                from switchyard.cache.faiss_backend import FaissSemanticCache

                _instance = FaissSemanticCache(settings.cache_dir / "cache.sqlite", settings.cache,
                                               hash_key=settings.hash_key)
            else:  # pragma: no cover - guarded by the settings Literal
                raise ValueError(f"unknown cache backend {settings.cache.backend!r}")
        return _instance


def install_cache(instance: SemanticCache) -> None:
    """Make ``instance`` the process's cache (benchmarks and services with their own backend);
    the previous one is closed."""
    global _instance
    with _lock:
        if _instance is not None and _instance is not instance:
            _instance.close()
        _instance = instance


def reset_cache() -> None:
    """Drop the singleton (tests; after changing SWITCHYARD_HOME or settings)."""
    global _instance
    with _lock:
        if _instance is not None:
            _instance.close()
        _instance = None
