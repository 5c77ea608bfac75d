"""What a graph needs, in one object: settings, embedder, classifier, cache, retriever, customer
database and model factory.

The graph's nodes read their dependencies from here, never from process globals, so two graphs
with different settings can run in one process and tests compile graphs with fakes. The
retriever and the database are described by protocols: their implementations live in higher
layers (``switchyard.knowledge``, ``switchyard.tools``); the front door (``switchyard.app``)
builds the real ones, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from switchyard.cache.base import SemanticCache
from switchyard.classifier import Classifier
from switchyard.core.settings import Settings
from switchyard.encoder.embedder import Embedder
from switchyard.llm.factory import ModelFactory

if TYPE_CHECKING:
    from switchyard.pg.pool import PgPools


class PassageSearch(Protocol):
    """Help-center retrieval (``switchyard.knowledge.retriever.Retriever``)."""

    @property
    def kb_version(self) -> str: ...

    async def asearch(
        self, query: str, k: int | None = None, embedding: np.ndarray | None = None
    ) -> list[Any]: ...

    def refresh(self) -> bool: ...


class AccountStore(Protocol):
    """The customer database (``switchyard.tools.database.CustomerDatabase``)."""

    path: Path
    product: dict[str, Any]

    def connect(self, read_only: bool = True) -> contextlib.AbstractContextManager[sqlite3.Connection]: ...

    def user_status(self, user_id: str) -> str | None: ...


@dataclass
class Dependencies:
    settings: Settings
    embedder: Embedder
    classifier: Classifier
    cache: SemanticCache
    retriever: PassageSearch
    database: AccountStore
    models: ModelFactory
    # The replica's connections to the shared PostgreSQL (SWITCHYARD_DATABASE_URL), None when
    # everything is embedded.
    shared: PgPools | None = None

    def close(self) -> None:
        self.cache.close()
        if self.shared is not None:
            self.shared.close()

    async def aclose(self) -> None:
        """:meth:`close`, also closing the shared database's async pools on this loop."""
        self.cache.close()
        if self.shared is not None:
            await self.shared.aclose()


class LazyDependencies:
    """Dependencies built on first use, once, off the event loop (thread-safe).

    For a graph that must exist before its dependencies can be built (the one ``langgraph dev``
    imports). Attribute access (``lazy.settings``, ``lazy.cache``...) reads the built
    dependencies, so the agents compile at import time over this handle; the graph's ``intake``
    awaits ``aget()`` before any other node runs, so no node ever builds them on the event loop.
    Attribute access never builds them: before ``get()``/``aget()`` it is an AttributeError (so
    LangGraph's compile-time look at a node's closure does not build everything at import).
    """

    def __init__(self, factory: Callable[[], Dependencies]) -> None:
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
        if name.startswith("_") or self._deps is None:
            raise AttributeError(f"{name}: the dependencies are built on the first request")
        return getattr(self._deps, name)


async def resolve(deps: Dependencies | LazyDependencies) -> Dependencies:
    return deps if isinstance(deps, Dependencies) else await deps.aget()
