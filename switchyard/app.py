"""The front door: one object builds every collaborator, once, from one settings object.

    from switchyard import Switchyard

    with Switchyard.open(settings) as sy:          # or: sy = await Switchyard.aopen(settings)
        record = sy.ask("I forgot my password", user_id="u-0001")
        print(record.answer, record.agent, record.cost_usd)

Every entry point goes through it: each CLI command, the HTTP service's lifespan, the bench,
``langgraph dev`` (``switchyard/studio.py``), the notebook and a host's own code. Nothing here is
a process global: two switchyards with different settings can live in one process.

Collaborators are built on first use, each once, in this order of dependence::

    settings -> customer database -> PostgreSQL pools (with a database URL) -> encoder
             -> knowledge index (ingested once, handed to the retriever) -> model factory
             -> classifier -> cache (backend chosen here, once) -> dependencies -> compiled graph

so a command that needs only the cache (``switchyard cache stats``) builds only the cache.
:meth:`Switchyard.open` prepares the home (seed, ingest, fit: :meth:`setup`) and builds the graph
before returning, so a request's latency is its own, never the process's start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from switchyard.core.settings import Settings, get_settings
from switchyard.record import RoutingRecord

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph, StateGraph

    from switchyard.cache.base import SemanticCache
    from switchyard.classifier import Classifier
    from switchyard.deps import Dependencies
    from switchyard.encoder.embedder import Embedder
    from switchyard.feedback import FeedbackStore
    from switchyard.knowledge.ingest import IngestReport, LoadedIndex, ProgressFn
    from switchyard.knowledge.retriever import Retriever
    from switchyard.llm.factory import ModelFactory
    from switchyard.observability.metrics import SwitchyardMetrics
    from switchyard.pg.pool import PgPools
    from switchyard.threads.store import ThreadStore
    from switchyard.tools.database import CustomerDatabase, SeedResult

T = TypeVar("T")
log = logging.getLogger(__name__)

# Parts a caller may hand in instead of having them built (fakes in tests, a host's own cache).
PARTS = ("database", "pools", "encoder", "retriever", "models", "classifier", "cache")


class SetupRequired(RuntimeError):
    """The home lacks what the graph needs and it could not be built here."""


class ForgetIncomplete(RuntimeError):
    """``forget`` deleted what it could; ``failed`` names the stores it could not reach."""

    def __init__(self, user_id: str, counts: dict[str, Any], failed: list[str]) -> None:
        self.counts, self.failed = counts, failed
        done = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items()
                         if isinstance(v, int))
        super().__init__(f"forget {user_id} is incomplete: {'; '.join(failed)}. "
                         f"Deleted so far: {done or 'nothing'}. Fix the store named and run "
                         "forget again (it is safe to repeat: it deletes what is left).")


@dataclass(frozen=True)
class SetupReport:
    """What :meth:`Switchyard.setup` found and did, for a person and for ``--json``."""

    database: SeedResult
    encoder: str
    knowledge: IngestReport
    classifier: str
    cache_invalidated: int
    cache_backend: str
    seconds: float
    domain: str = ""
    warnings: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        return [
            *([f"domain pack: {self.domain}"] if self.domain else []),
            f"customer database: {self.database.summary()}",
            f"sentence encoder: {self.encoder}",
            f"knowledge index: {self.knowledge.summary()}",
            f"classifier: {self.classifier}",
            f"cache ({self.cache_backend}): " + (
                f"{self.cache_invalidated} answers of an older knowledge base dropped"
                if self.cache_invalidated else "current"),
            f"ready in {self.seconds:.1f} s",
            *(f"warning: {w}" for w in self.warnings),
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": {"path": str(self.database.path), "seeded": not self.database.skipped,
                         "rows": self.database.counts},
            "encoder": self.encoder,
            "knowledge": self.knowledge.model_dump(),
            "classifier": self.classifier,
            "cache": {"backend": self.cache_backend, "invalidated": self.cache_invalidated},
            "seconds": round(self.seconds, 3),
            "domain": self.domain,
            "warnings": list(self.warnings),
        }


# Fewer labelled requests than this and the intent head is a guess (the tier comes from the
# complexity head alone, which is how the router decides anyway).
MIN_LABELLED = 30


def labelled_data_warnings(routing_dir: Path) -> list[str]:
    """What a person should know about the active pack's labelled requests: too few of them,
    or intents with no example (never predicted, so their tools and flags are never used)."""
    import json

    from switchyard.classifier.local import fallback_warning
    from switchyard.core.domain import INTENTS

    train = routing_dir / "train.jsonl"
    try:
        fallback = fallback_warning(routing_dir)
    except (OSError, ValueError):
        return []  # fitting the classifier reports a broken file
    if fallback:
        return [fallback]  # complexity-only routing: intents are not predicted at all
    try:
        rows = [json.loads(x) for x in train.read_text(encoding="utf-8").splitlines() if x.strip()]
    except (OSError, ValueError):
        return []
    found: list[str] = []
    if len(rows) < MIN_LABELLED:
        found.append(f"only {len(rows)} labelled requests in {train}: the router routes on "
                     "complexity alone and its intents are guesses; label at least "
                     f"{MIN_LABELLED} (a few per intent)")
    seen = {str(r.get("intent")) for r in rows if isinstance(r, dict)}
    missing = [name for name in INTENTS if name not in seen]
    if missing:
        found.append(f"intents with no labelled example in {train}: {', '.join(missing)} "
                     "(never predicted, so their tools and flags are never used); add examples")
    return found


class Switchyard:
    """switchyard for one :class:`Settings`: its collaborators, its graph, and ``ask``."""

    def __init__(self, settings: Settings | None = None, **parts: Any) -> None:
        unknown = sorted(set(parts) - set(PARTS))
        if unknown:
            raise TypeError(f"unknown switchyard parts: {unknown} (known: {', '.join(PARTS)})")
        # The only place besides entry points that reads the process's configuration.
        self.settings = settings if settings is not None else get_settings()
        # The settings' domain pack becomes the process's (one domain per process: the
        # catalogue, tools, prompts and cache guard are built from it; see core/domain.py).
        from switchyard.core.domain import activate, active_pack

        if active_pack() is not self.settings.pack:
            activate(self.settings.pack)
        self._built: dict[str, Any] = {k: v for k, v in parts.items() if v is not None}
        self._given = frozenset(self._built)
        self._lock = threading.RLock()
        self._index: LoadedIndex | None = None
        self.report: SetupReport | None = None
        self._closed = False

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def for_batch(cls, settings: Settings | None = None) -> Switchyard:
        """A front door for a batch command (classify, route train, calibrate): its encoder
        uses ``embedding_batch_threads`` (every core by default) instead of a request's one."""
        return cls((settings or get_settings()).for_batch())

    @classmethod
    def open(cls, settings: Settings | None = None, *, setup: bool = True,
             **parts: Any) -> Switchyard:
        """Prepare the home (``setup``: seed, ingest, fit) and build everything a request uses.

        Blocking (seconds on a fresh home): from async code use :meth:`aopen`."""
        sy = cls(settings, **parts)
        try:
            if setup:
                sy.setup()
            sy.graph  # noqa: B018 - every collaborator, now
        except BaseException:
            sy.close()
            raise
        return sy

    @classmethod
    async def aopen(cls, settings: Settings | None = None, *, setup: bool = True,
                    **parts: Any) -> Switchyard:
        """:meth:`open` in a worker thread, so the event loop keeps serving."""
        return await asyncio.to_thread(lambda: cls.open(settings, setup=setup, **parts))

    def setup(self, *, force_ingest: bool = False,
              progress: ProgressFn | None = None) -> SetupReport:
        """Build what is missing (idempotent): seed the customer database, export the sentence
        encoder (once per home, in a child process: the only step that needs torch), ingest the
        knowledge base (only changed articles are embedded), load or fit the classifier, and
        drop shared cache answers written against an older knowledge base."""
        from switchyard.knowledge.ingest import ingest

        started = time.perf_counter()
        seeded = self.database.seed()
        encoder = self.encoder
        report = ingest(force_ingest, articles_dir=self.settings.articles_dir,
                        index_dir=self.settings.index_dir, chunking=self.settings.retrieval,
                        embed=lambda texts: self.encoder.embed(texts),
                        vectors=encoder.vectors_id, progress=progress)
        self._use_index(report.index)
        classifier = self.classifier
        model = getattr(classifier, "model", None)
        described = getattr(model, "provenance", None) or f"{classifier.name} classifier"
        removed = self.cache.invalidate_public(report.kb_version)
        pack = self.settings.pack
        self.report = SetupReport(
            domain=f"{pack.name} ({pack.root})",
            warnings=(*pack.warnings, *labelled_data_warnings(self.settings.routing_data_dir)),
            database=seeded, encoder=getattr(encoder, "provenance", type(encoder).__name__),
            knowledge=report, classifier=f"{classifier.name}, {described}",
            cache_invalidated=removed,
            cache_backend="PostgreSQL (shared)" if self.settings.database_url else "embedded",
            seconds=time.perf_counter() - started)
        return self.report

    def _use_index(self, index: LoadedIndex | None) -> None:
        with self._lock:
            self._index = index
            retriever = self._built.get("retriever")
            if index is not None and retriever is not None and "retriever" not in self._given:
                retriever.use_index(index)  # already serving: switch to the committed index

    # -- collaborators, each built once ----------------------------------------------------
    def _once(self, name: str, build: Callable[[], T]) -> T:
        if self._closed:
            raise RuntimeError("this switchyard is closed")
        with self._lock:
            if name not in self._built:
                self._built[name] = build()
            return self._built[name]  # type: ignore[no-any-return]

    @property
    def database(self) -> CustomerDatabase:
        """The customer database (seeded by :meth:`setup`, or on first use)."""
        from switchyard.tools.database import CustomerDatabase

        return self._once("database", lambda: CustomerDatabase.for_settings(self.settings))

    @property
    def pools(self) -> PgPools | None:
        """This replica's connections to the shared PostgreSQL; None when embedded."""

        def build() -> PgPools | None:
            if not self.settings.database_url:
                return None
            from switchyard.pg.pool import PgPools

            return PgPools(self.settings.database_url)

        return self._once("pools", build)

    @property
    def encoder(self) -> Embedder:
        from switchyard.encoder.embedder import Embedder

        return self._once("encoder", lambda: Embedder.from_settings(self.settings))

    @property
    def retriever(self) -> Retriever:
        """Help-centre search over the index :meth:`setup` ingested (loaded from disk, or built,
        when setup did not run in this process)."""
        from switchyard.knowledge.retriever import Retriever

        return self._once("retriever", lambda: Retriever(self.settings, self.encoder,
                                                         index=self._index))

    @property
    def models(self) -> ModelFactory:
        from switchyard.llm.factory import ModelFactory

        def build() -> ModelFactory:
            limits = None
            if self.pools is not None:
                from switchyard.llm.pg_limits import PgLimits

                limits = PgLimits(self.pools)
            return ModelFactory(self.settings, limits, similarity=self._similarity)

        return self._once("models", build)

    def _similarity(self, question: str, docs: Sequence[str]) -> np.ndarray:
        """Sentence similarity of a question to each text (the offline model's tool choice)."""
        q = self.encoder.embed_one(question)
        return np.stack([self.encoder.embed_one(d) for d in docs]) @ q

    @property
    def classifier(self) -> Classifier:
        from switchyard.classifier import build_classifier

        return self._once("classifier", lambda: build_classifier(
            self.settings, self.encoder, lambda: self.models))

    @property
    def feedback(self) -> FeedbackStore:
        """Rated runs (``POST /v1/feedback``): PostgreSQL with a database URL, else SQLite in
        the home; the backend is chosen here, once."""

        def build() -> FeedbackStore:
            from switchyard.feedback import PgFeedbackStore, SqliteFeedbackStore

            if self.pools is not None:
                return PgFeedbackStore(self.pools, self.settings.hash_key)
            return SqliteFeedbackStore(self.settings.home / "feedback.sqlite",
                                       self.settings.hash_key)

        return self._once("feedback", build)

    @property
    def cache(self) -> SemanticCache:
        """The deployment's semantic cache: the backend is chosen here, once."""
        from switchyard.cache import open_cache

        return self._once("cache", lambda: open_cache(self.settings, self.pools))

    @property
    def deps(self) -> Dependencies:
        """What the graph's nodes and agents use."""
        from switchyard.deps import Dependencies

        def build() -> Dependencies:
            try:
                self.database.ensure_seeded()
            except OSError as exc:
                raise SetupRequired(
                    f"the customer database at {self.settings.db_path} is missing and cannot be "
                    f"created ({exc.strerror or exc}); run `switchyard setup` with a writable "
                    "SWITCHYARD_HOME") from exc
            return Dependencies(settings=self.settings, embedder=self.encoder,
                                classifier=self.classifier, cache=self.cache,
                                retriever=self.retriever, database=self.database,
                                models=self.models, shared=self.pools)

        return self._once("deps", build)

    @property
    def builder(self) -> StateGraph:
        """The routed graph's builder: compile it with your own checkpointer."""
        from switchyard.graph.graph import build_graph

        return self._once("builder", lambda: build_graph(self.deps))

    @property
    def graph(self) -> CompiledStateGraph:
        """The compiled graph, without a checkpointer (one-shot requests)."""
        return self._once("graph", lambda: self.builder.compile(name="switchyard"))

    @property
    def metrics(self) -> SwitchyardMetrics:
        """This switchyard's Prometheus metrics, in a registry of its own (never the process's
        global one): every :meth:`aask` and every request the service answers is counted."""
        from switchyard.observability.metrics import SwitchyardMetrics

        return self._once("metrics", lambda: SwitchyardMetrics(self.settings))

    async def observed_stores(self, threads: ThreadStore | None = None) -> None:
        """Refresh the metrics read from the stores (slots in use, cache entries and hit ratio,
        thread count) before a scrape; what is not built yet is not read."""
        models, cache = self._built.get("models"), self._built.get("cache")
        await self.metrics.refresh(
            slots=models.slots_in_use if models is not None else None,
            cache_stats=(lambda: asyncio.to_thread(cache.stats)) if cache is not None else None,
            thread_count=threads.count if threads is not None else None)

    def compile(self, checkpointer: Any = None) -> CompiledStateGraph:
        """The graph compiled with ``checkpointer`` (threads that continue)."""
        return self.builder.compile(checkpointer=checkpointer, name="switchyard")

    def deferred_graph(self) -> CompiledStateGraph:
        """The graph compiled now, its collaborators built on the first request, off the event
        loop: for hosts that import a graph before they may block (``langgraph dev``)."""
        from switchyard.deps import LazyDependencies
        from switchyard.graph.graph import build_graph

        def build() -> Dependencies:
            if self.report is None:
                self.setup()
            return self.deps

        return build_graph(LazyDependencies(build)).compile(name="switchyard")

    @contextlib.asynccontextmanager
    async def threads(self, path: Path | None = None) -> AsyncIterator[ThreadStore]:
        """The conversation store for these settings, open for the duration: PostgreSQL with a
        database URL, else SQLite at ``path`` (default ``settings.checkpoint_path``)."""
        from switchyard.threads.store import open_thread_store

        async with open_thread_store(self.settings, path or self.settings.checkpoint_path) as store:
            yield store

    # -- the right to be forgotten ----------------------------------------------------------
    async def aforget(self, user_id: str, threads: ThreadStore | None = None) -> dict[str, Any]:
        """Delete everything held about ``user_id``: their cache entries and intent keys (every
        tenant, tier and version), the routing records and ratings of their runs, and their
        conversation threads with every checkpoint, on this deployment's stores (embedded, or
        PostgreSQL). Returns the counts. The customer database's rows are the host's and stay.
        ``threads``: an open store (default: opened here for the duration).

        Every store is tried even when one fails; then :class:`ForgetIncomplete` says which
        failed and what was deleted (running forget again is safe: it deletes the rest)."""
        if not isinstance(user_id, str) or not user_id.strip():
            raise ValueError("forget needs a user id")
        from switchyard.core.tracing import user_hash

        embedded = not self.settings.database_url
        counts: dict[str, Any] = {"user_id": user_id,
                                  "backend": "embedded" if embedded else "postgres"}
        failed: list[str] = []

        async def step(what: str, where: Path, work: Any) -> None:
            try:
                counts.update(await work())
            except Exception as exc:  # noqa: BLE001 - reported below, with every other store's
                log.warning("forget %s: %s failed: %r", user_hash(user_id, self.settings.hash_key),
                            what, exc)
                failed.append(f"{what}{f' ({where})' if embedded else ''}: "
                              f"{str(exc)[:200] or type(exc).__name__}")

        async def cache() -> dict[str, Any]:
            store = await asyncio.to_thread(lambda: self.cache)
            return await asyncio.to_thread(store.forget_user, user_id)

        async def runs() -> dict[str, Any]:
            who = user_hash(user_id, self.settings.hash_key) or ""
            return {"routing_runs": await asyncio.to_thread(lambda: self.feedback.forget_user(who))}

        async def conversations() -> dict[str, Any]:
            if threads is not None:
                return await threads.forget_user(user_id)
            async with self.threads() as store:
                return await store.forget_user(user_id)

        await step("the semantic cache", self.settings.cache_dir, cache)
        await step("the routing records", self.settings.home / "feedback.sqlite", runs)
        await step("the conversation threads", self.settings.checkpoint_path, conversations)
        if failed:
            raise ForgetIncomplete(user_id, counts, failed)
        return counts

    def forget(self, user_id: str) -> dict[str, Any]:
        """:meth:`aforget` from synchronous code."""
        return asyncio.run(self.aforget(user_id))

    # -- asking ----------------------------------------------------------------------------
    async def aask(self, text: str, *, user_id: str | None = None, tenant: str | None = None,
                   thread_id: str | None = None, graph: Any = None,
                   **context: Any) -> RoutingRecord:
        """Route one message as ``user_id`` (None: nobody is signed in).

        ``context`` sets the other runtime-context fields (``use_cache``, ``force_tier``, model
        overrides); ``graph`` a graph of your own (e.g. compiled with a checkpointer)."""
        from langchain_core.messages import HumanMessage

        from switchyard.core.context import Context

        if graph is None:
            graph = self._built.get("graph") or await asyncio.to_thread(lambda: self.graph)
        ctx = Context(user_id=user_id, tenant=tenant or self.settings.default_tenant, **context)
        run_id = uuid.uuid4()
        config: dict[str, Any] = {"run_name": "switchyard", "run_id": run_id, "configurable": {}}
        if thread_id:
            config["configurable"]["thread_id"] = thread_id
        started = time.perf_counter()
        with self.metrics.tracking():
            try:
                state = await graph.ainvoke({"messages": [HumanMessage(text)]}, config=config,
                                            context=ctx)
            except BaseException as exc:
                self.metrics.observe_failure(
                    "cancelled" if isinstance(exc, asyncio.CancelledError) else "internal",
                    duration_s=time.perf_counter() - started)
                raise
        record = RoutingRecord.from_state(state, thread_id=thread_id, run_id=str(run_id))
        self.metrics.observe(record, duration_s=time.perf_counter() - started)
        return record

    def ask(self, text: str, **kwargs: Any) -> RoutingRecord:
        """:meth:`aask` from synchronous code."""
        return asyncio.run(self.aask(text, **kwargs))

    # -- closing ---------------------------------------------------------------------------
    def close(self) -> None:
        """Release the cache's files and the database pools (parts handed in stay open)."""
        if self._closed:
            return
        self._closed = True
        cache, pools = self._built.get("cache"), self._built.get("pools")
        feedback = self._built.get("feedback")
        if feedback is not None:
            feedback.close()
        if cache is not None and "cache" not in self._given:
            cache.close()
        if pools is not None and "pools" not in self._given:
            pools.close()

    async def aclose(self) -> None:
        """:meth:`close`, also closing the database's async pools on this event loop."""
        if self._closed:
            return
        pools = self._built.get("pools")
        if pools is not None and "pools" not in self._given:
            cache = self._built.get("cache")
            if cache is not None and "cache" not in self._given:
                cache.close()
            feedback = self._built.get("feedback")
            if feedback is not None:
                feedback.close()
            self._closed = True
            await pools.aclose()
            return
        self.close()

    def __enter__(self) -> Switchyard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Switchyard:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
