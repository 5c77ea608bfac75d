"""What a graph needs, in one object: settings, embedder, classifier, cache, retriever, customer
database and model factory.

The graph's nodes read their dependencies from here, never from process globals, so two graphs
with different settings can run in one process and tests compile graphs with fakes. The
retriever and the database are described by protocols: their implementations live in higher
layers (``switchyard.knowledge``, ``switchyard.tools``), and ``switchyard.graph.dependencies``
builds the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from switchyard.cache.base import SemanticCache
from switchyard.classifier import Classifier
from switchyard.embeddings import Embedder
from switchyard.llm.factory import ModelFactory
from switchyard.settings import Settings

if TYPE_CHECKING:
    from switchyard.pg.shared import PgShared


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
    # The replica's handle on the shared PostgreSQL (SWITCHYARD_DATABASE_URL), None when embedded.
    shared: PgShared | None = None

    def close(self) -> None:
        self.cache.close()
        if self.shared is not None:
            self.shared.close()

    async def aclose(self) -> None:
        """:meth:`close`, also closing the shared database's async pools on this loop."""
        self.cache.close()
        if self.shared is not None:
            await self.shared.aclose()
