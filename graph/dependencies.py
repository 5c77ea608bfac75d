"""Build the real dependencies of a graph from one settings object.

``build_dependencies`` loads the embedder, fits or loads the classifier, opens the cache, loads
(or builds) the knowledge index and finds the customer database. It is slow and blocking: call it
once, off the event loop (``abuild_dependencies`` does). ``LazyDependencies`` defers it to the first
request, for the module-level graph that ``langgraph dev`` imports.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from switchyard.cache.base import SemanticCache
from switchyard.classifier import Classifier
from switchyard.classifier.cascade import CascadeClassifier
from switchyard.classifier.llm import LLMClassifier
from switchyard.classifier.local import LocalClassifier
from switchyard.deps import Dependencies
from switchyard.embeddings import Embedder, get_embedder
from switchyard.knowledge.retriever import Retriever
from switchyard.llm.factory import ModelFactory
from switchyard.settings import Settings, get_settings
from switchyard.tools.database import CustomerDatabase

if TYPE_CHECKING:
    from switchyard.pg.shared import PgShared

log = logging.getLogger(__name__)


class SetupRequired(RuntimeError):
    """The home lacks what the graph needs and it could not be built here."""


def build_classifier(settings: Settings, embedder: Embedder) -> Classifier:

    local = LocalClassifier(settings=settings, embedder=embedder)
    local.model  # noqa: B018 - load or fit now, not on the first request
    mode = settings.classifier.mode
    if mode in ("llm", "cascade") and settings.use_offline_model:
        log.warning("classifier mode %r needs an LLM; running offline, using the local classifier",
                    mode)
        return local
    if mode == "llm":

        return LLMClassifier()
    if mode == "cascade":

        return CascadeClassifier(local=local)
    return local


def build_shared(settings: Settings) -> PgShared | None:
    """With ``SWITCHYARD_DATABASE_URL``: this replica's pools and coordination on PostgreSQL."""
    if not settings.database_url:
        return None
    from switchyard.pg.shared import PgShared

    return PgShared(settings.database_url)


def build_cache(settings: Settings, shared: PgShared | None = None) -> SemanticCache:
    """The embedded FAISS + SQLite cache, or, with ``SWITCHYARD_DATABASE_URL``, the cache every
    replica shares on PostgreSQL + pgvector (same interface, guard and policy), whose
    single-flight also spans replicas."""
    if settings.database_url:
        from switchyard.cache.pg_backend import PgSemanticCache

        shared = shared or build_shared(settings)
        assert shared is not None
        cache = PgSemanticCache(shared.pool, settings.cache, hash_key=settings.hash_key)
        cache.share_flights(shared.flights)
        return cache
    from switchyard.cache.faiss_backend import FaissSemanticCache

    return FaissSemanticCache(settings.cache_dir / "cache.sqlite", settings.cache,
                              hash_key=settings.hash_key)


def build_dependencies(settings: Settings | None = None, **overrides: Any) -> Dependencies:
    """Everything a graph needs for ``settings`` (default: the process's configured settings).

    Keyword overrides replace single parts (``cache=``, ``models=``, ...), e.g. fakes in tests.
    """
    settings = settings or get_settings()
    database = overrides.pop("database", None) or CustomerDatabase(settings.db_path)
    try:
        database.ensure_seeded()
    except OSError as exc:
        raise SetupRequired(
            f"the customer database at {settings.db_path} is missing and cannot be created "
            f"({exc.strerror or exc}); run `switchyard setup` with a writable SWITCHYARD_HOME"
        ) from exc
    embedder = overrides.pop("embedder", None) or get_embedder()
    shared = overrides.pop("shared", None) or build_shared(settings)
    parts: dict[str, Any] = {
        "settings": settings,
        "embedder": embedder,
        "database": database,
        "models": overrides.pop("models", None) or ModelFactory(settings, shared),
        "shared": shared,
    }
    parts["retriever"] = overrides.pop("retriever", None) or Retriever(
        index_dir=settings.index_dir, articles_dir=settings.articles_dir,
        settings=settings, embedder=embedder)
    parts["classifier"] = overrides.pop("classifier", None) or build_classifier(settings, embedder)
    parts["cache"] = overrides.pop("cache", None) or build_cache(settings, shared)
    if overrides:
        raise TypeError(f"unknown dependencies: {sorted(overrides)}")
    return Dependencies(**parts)


async def abuild_dependencies(settings: Settings | None = None, **overrides: Any) -> Dependencies:
    """:func:`build_dependencies` in a worker thread, so the event loop keeps serving."""
    return await asyncio.to_thread(build_dependencies, settings, **overrides)


class LazyDependencies:
    """Dependencies built on first use, once, off the event loop (thread-safe).

    Attribute access (``lazy.settings``, ``lazy.cache``...) reads the built dependencies, so the
    agents compile at import time over this handle; the graph's ``intake`` awaits ``aget()``
    before any other node runs, so no node ever builds them on the event loop.
    """

    def __init__(self, factory: Callable[[], Dependencies] = build_dependencies) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._deps: Dependencies | None = None

    def get(self) -> Dependencies:
        with self._lock:
            if self._deps is None:
                self._deps = self._factory()
            return self._deps

    async def aget(self) -> Dependencies:
        if self._deps is not None:
            return self._deps
        return await asyncio.to_thread(self.get)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.get(), name)


async def resolve(deps: Dependencies | LazyDependencies) -> Dependencies:
    return deps if isinstance(deps, Dependencies) else await deps.aget()
