"""Semantic cache: answers repeats for free, never someone else's answer, never a wrong one.

``open_cache(settings, pools)`` is the one place the backend is chosen: the embedded FAISS +
SQLite cache under the home, or, with ``SWITCHYARD_DATABASE_URL``, the cache every replica shares
on PostgreSQL + pgvector (same interface, guard and policy; its single-flight spans replicas).

Graph usage (see ``docs`` in each module)::

    policy = cache_policy(complexity=c, intent=i, in_scope=s, text=text, settings=cs)
    if policy.cacheable:
        part = Partition.for_request(tenant=..., user_id=..., personal=..., tier=..., ...)
        verdict = await cache.alookup(text, embedding, part)
    ...
    ok, why = is_storable(answer, errored=..., truncated=..., refused=..., tool_failed=..., strategic=...)
    if ok: await cache.astore(text, embedding, part, CachedAnswer.create(..., ttl_s=policy.ttl_s))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    storage_scope,
)
from switchyard.cache.singleflight import FlightTicket

if TYPE_CHECKING:
    from switchyard.core.settings import Settings
    from switchyard.pg.pool import PgPools

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
    "guard_conflict",
    "intent_key",
    "is_storable",
    "is_strategic",
    "normalize_text",
    "open_cache",
    "request_intent_key",
    "storage_scope",
    "user_scope",
]

def open_cache(settings: Settings, pools: PgPools | None = None) -> SemanticCache:
    """The deployment's cache: on PostgreSQL when ``settings.database_url`` is set (``pools`` are
    the replica's connections to it), else the embedded one under ``settings.cache_dir``."""
    if settings.database_url:
        from switchyard.cache.pg_backend import PgSemanticCache
        from switchyard.cache.pg_singleflight import PgFlights

        if pools is None:
            raise ValueError("the shared cache needs the replica's PostgreSQL pools")
        cache = PgSemanticCache(pools.pool, settings.cache, hash_key=settings.hash_key)
        cache.share_flights(PgFlights(pools))
        return cache
    from switchyard.cache.faiss_backend import FaissSemanticCache

    return FaissSemanticCache(settings.cache_dir / "cache.sqlite", settings.cache,
                              hash_key=settings.hash_key)
