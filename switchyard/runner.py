"""Run one request through the graph and flatten the final state into a routing record.

The CLI, the HTTP service, the notebook and the benchmarks all go through here, so they report
the same fields the same way. Request text is validated by the graph's ``intake`` node; a bad
request comes back as a record with ``error`` set.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from langchain_core.messages import HumanMessage

from switchyard.cache import SemanticCache, get_cache
from switchyard.classifier.local import load_or_fit
from switchyard.context import Context
from switchyard.deps import Dependencies
from switchyard.graph.dependencies import build_dependencies
from switchyard.graph.graph import build_graph
from switchyard.knowledge.ingest import ingest
from switchyard.settings import Settings, get_settings
from switchyard.tools.database import seed


def ensure_ready(settings: Settings | None = None,
                 cache: SemanticCache | None = None) -> dict[str, Any]:
    """Build what the graph needs if missing: customer database, knowledge index, classifier.

    Each step is idempotent; a changed knowledge base bumps its version, which drops public
    entries written under the old one from ``cache``: by default the embedded cache, which is
    the deployment's only with no ``database_url``. With one, the shared Postgres cache is the
    caller's to pass (the service does, once its dependencies are built), and the home's unused
    embedded cache is left alone.
    """

    settings = settings or get_settings()
    db = seed(settings.db_path)
    report = ingest(articles_dir=settings.articles_dir, index_dir=settings.index_dir)
    if cache is None and not settings.database_url:
        cache = get_cache()
    removed = cache.invalidate_public(report.kb_version) if cache is not None else None
    load_or_fit(settings.classifier_path)
    return {"db": db, "ingest": report, "cache_invalidated": removed}


_default_lock = threading.Lock()
_default: tuple[Dependencies, Any] | None = None


def default_graph() -> tuple[Dependencies, Any]:
    """The process's dependencies and compiled graph for the configured settings (CLI, scripts).

    Built once, in the calling thread (call it outside the event loop, or let ``arun`` do it
    in a worker thread)."""
    global _default
    with _default_lock:
        if _default is None:

            deps = build_dependencies()
            _default = (deps, build_graph(deps).compile(name="switchyard"))
        return _default


def record_from_state(state: dict[str, Any]) -> dict[str, Any]:
    cls = state.get("classification") or {}
    if hasattr(cls, "model_dump"):
        cls = cls.model_dump()
    cache = state.get("cache") or {}
    return {
        "answer": state.get("answer", ""),
        "agent": state.get("agent") or state.get("route") or None,
        "route": state.get("route"),
        "route_reason": state.get("route_reason"),
        "fallback_from": state.get("fallback_from") or [],
        "complexity": cls.get("complexity"),
        "intent": cls.get("intent"),
        "confidence": cls.get("confidence"),
        "in_scope": cls.get("in_scope"),
        "cache_hit": bool(cache.get("hit")),
        "similarity": cache.get("similarity"),
        "cache": dict(cache),
        "cost_usd": round(float(state.get("cost_usd", 0.0)), 8),
        "latency_ms": state.get("latency_ms"),
        "model": state.get("model") or None,
        "tools_used": state.get("tools_used") or [],
        "sources": state.get("sources") or [],
        "tokens": state.get("tokens") or {},
        "timings_ms": state.get("timings") or {},
        "usage": state.get("usage") or [],
        "classification": cls,
        "error": state.get("error"),
    }


async def arun(text: str, *, user_id: str | None = None, tenant: str | None = None,
               thread_id: str | None = None, graph: Any = None, **context: Any) -> dict[str, Any]:
    """Route one message as ``user_id`` (None: nobody is signed in); returns the routing record.

    ``graph`` defaults to the process's graph for the configured settings."""
    if graph is None:
        _, graph = await asyncio.to_thread(default_graph)
    ctx = Context(user_id=user_id, tenant=tenant or get_settings().default_tenant, **context)
    config: dict[str, Any] = {"run_name": "switchyard", "configurable": {}}
    if thread_id:
        config["configurable"]["thread_id"] = thread_id
    state = await graph.ainvoke({"messages": [HumanMessage(text)]}, config=config, context=ctx)
    return record_from_state(state)


def run(text: str, **kwargs: Any) -> dict[str, Any]:
    return asyncio.run(arun(text, **kwargs))
