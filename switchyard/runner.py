"""Run one request through the graph and flatten the final state into a routing record.

The CLI, the HTTP service, the notebook and the benchmarks all go through here, so they report
the same fields the same way.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import HumanMessage

from switchyard.settings import get_settings


class InputError(ValueError):
    """A request that cannot be processed as given; the message says why."""


def check_text(text: Any) -> str:
    """Reject what is not text we can route, with a message a person can act on."""
    if not isinstance(text, str):
        raise InputError("The message must be a string.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            "The message is not valid UTF-8 text (it contains undecodable bytes). "
            "Please re-send it as UTF-8."
        ) from exc
    if "\x00" in text:
        raise InputError("The message contains NUL bytes; please send plain text.")
    return text


def ensure_ready() -> dict[str, Any]:
    """Build what the graph needs if missing: customer database, knowledge index, classifier.

    Each step is idempotent; a changed knowledge base bumps its version, which drops public
    cache entries written under the old one.
    """
    from switchyard.cache import get_cache
    from switchyard.classifier import get_classifier
    from switchyard.knowledge.ingest import ingest
    from switchyard.tools.database import seed

    db = seed()
    report = ingest()
    removed = get_cache().invalidate_public(report.kb_version)
    get_classifier()
    return {"db": db, "ingest": report, "cache_invalidated": removed}


def record_from_state(state: dict[str, Any]) -> dict[str, Any]:
    cls = state.get("classification") or {}
    cache = state.get("cache") or {}
    return {
        "answer": state.get("answer", ""),
        "agent": state.get("agent") or state.get("route") or None,
        "route": state.get("route"),
        "complexity": cls.get("complexity"),
        "intent": cls.get("intent"),
        "confidence": cls.get("confidence"),
        "in_scope": cls.get("in_scope"),
        "cache_hit": bool(cache.get("hit")),
        "similarity": cache.get("similarity"),
        "cache": {k: v for k, v in cache.items() if k != "flight_id"},
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
    """Route one message; returns the routing record. ``graph`` defaults to the exported one."""
    from switchyard.graph.context import Context

    settings = get_settings()
    check_text(text)
    if graph is None:
        from switchyard.graph.graph import graph as default_graph

        graph = default_graph
    ctx = Context(user_id=user_id or settings.demo_user_id,
                  tenant=tenant or settings.default_tenant, **context)
    config: dict[str, Any] = {"run_name": "switchyard", "configurable": {}}
    if thread_id:
        config["configurable"]["thread_id"] = thread_id
    from switchyard.graph.nodes import release_flights_on_error

    with release_flights_on_error():
        state = await graph.ainvoke({"messages": [HumanMessage(text)]}, config=config, context=ctx)
    return record_from_state(state)


def run(text: str, **kwargs: Any) -> dict[str, Any]:
    return asyncio.run(arun(text, **kwargs))
