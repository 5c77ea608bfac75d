"""LangSmith trace annotations: tier / complexity / cache tags and routing metadata on the root run.

The tags a reviewer filters by (``tier:standard``, ``complexity:medium``, ``cache:hit``) are only
known after classification, but the root run was already posted when the graph started. The
LangChain tracer keeps every open run in ``run_map`` and PATCHes a run when it ends, sending its
tags and ``extra.metadata`` again; so the graph's last node (``respond``) mutates the root run in
place and the final PATCH carries the annotations. This works wherever the graph runs (``langgraph
dev``, a service, ``switchyard ask``) because it needs nothing from the caller: only the
callbacks LangChain already passes to every node. With tracing off it is a no-op.

Privacy: the user id is never written; metadata carries a hash of it keyed with the deployment's
secret (``user_hash``, see ``switchyard/core/privacy.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from switchyard.core.privacy import keyed_hash

TRACE_NAME = "switchyard"
# Keys the annotation writes into the root run's metadata (and nothing else).
METADATA_KEYS = ("intent", "confidence", "similarity", "model", "tokens", "cost_usd", "user_hash",
                 "agent", "complexity", "cache_hit", "latency_ms", "error", "propensity")


def user_hash(user_id: str | None, key: bytes) -> str | None:
    """Keyed pseudonym of a user id for traces: stable per deployment, not reversible by
    enumerating short ids without the deployment's secret."""
    if not user_id:
        return None
    return keyed_hash(key, "trace-user", user_id)


def trace_annotations(state: Mapping[str, Any], user_id: str | None = None, *, key: bytes = b""
                      ) -> tuple[list[str], dict[str, Any]]:
    """Tags and metadata for a request's root run, from the graph's final state."""
    cls = state.get("classification") or {}
    if hasattr(cls, "model_dump"):
        cls = cls.model_dump()
    cache = state.get("cache") or {}
    agent = state.get("agent") or state.get("route") or "none"
    complexity = cls.get("complexity") or "none"
    hit = bool(cache.get("hit"))
    tags = [f"tier:{agent}", f"complexity:{complexity}", f"cache:{'hit' if hit else 'miss'}"]
    if state.get("error"):
        tags.append("outcome:error")
    confidence = cls.get("confidence")
    similarity = cache.get("similarity")
    metadata: dict[str, Any] = {
        "agent": agent,
        "complexity": complexity,
        "intent": cls.get("intent"),
        "confidence": round(float(confidence), 4) if confidence is not None else None,
        "cache_hit": hit,
        "similarity": round(float(similarity), 4) if similarity is not None else None,
        "model": state.get("model") or None,
        "tokens": dict(state.get("tokens") or {}),
        "cost_usd": round(float(state.get("cost_usd") or 0.0), 6),
        "latency_ms": state.get("latency_ms"),
        "user_hash": user_hash(user_id, key) if key else None,
        "error": bool(state.get("error")),
        # The probability of the tier taken (exploration), for learning from this run's feedback.
        "propensity": (state.get("exploration") or {}).get("propensity"),
    }
    return tags, metadata


def _handlers(config: Mapping[str, Any] | None) -> tuple[list[Any], Any]:
    callbacks = (config or {}).get("callbacks")
    if callbacks is None:
        return [], None
    if isinstance(callbacks, list):
        return callbacks, None
    return list(getattr(callbacks, "handlers", []) or []), getattr(callbacks, "parent_run_id", None)


def _ancestors(run_map: Mapping[str, Any], run_id: Any) -> list[Any]:
    """The chain of open runs from ``run_id`` up to the trace root (inclusive), innermost first."""
    chain: list[Any] = []
    seen: set[str] = set()
    current = run_map.get(str(run_id)) if run_id is not None else None
    while current is not None and str(current.id) not in seen:
        seen.add(str(current.id))
        chain.append(current)
        parent = getattr(current, "parent_run_id", None)
        current = run_map.get(str(parent)) if parent is not None else None
    return chain


def _annotate_run(run: Any, tags: Iterable[str], metadata: Mapping[str, Any]) -> None:
    # A retried request (or a checkpointed thread resumed in the same run) replaces stale tags.
    prefixes = ("tier:", "complexity:", "cache:", "outcome:")
    kept = [t for t in (run.tags or []) if not t.startswith(prefixes)]
    run.tags = sorted(set(kept) | set(tags))
    extra = run.extra if run.extra is not None else {}
    extra.setdefault("metadata", {}).update(metadata)
    run.extra = extra


def annotate_trace(config: Mapping[str, Any] | None, state: Mapping[str, Any],
                   user_id: str | None = None, *, key: bytes = b"",
                   graph_name: str = TRACE_NAME) -> int:
    """Put the request's tags and metadata on its root run(s); returns how many runs changed.

    Call from inside a node with the node's ``config``. The runs annotated are the graph's own run
    (the nearest ancestor named ``graph_name``) and the trace root when the graph is nested under a
    caller's run (an eval experiment, a ``@traceable`` service handler), so either is filterable.
    """
    handlers, parent_run_id = _handlers(config)
    tracers = [h for h in handlers if hasattr(h, "run_map") and type(h).__name__ == "LangChainTracer"]
    if not tracers:
        return 0
    tags, metadata = trace_annotations(state, user_id, key=key)
    changed = 0
    done: set[str] = set()
    for tracer in tracers:
        chain = _ancestors(tracer.run_map, parent_run_id)
        if not chain:
            continue
        graph_runs = [r for r in chain if r.name == graph_name]
        # The outermost run named like the graph (a subgraph could share a name, never the root).
        targets = [graph_runs[-1]] if graph_runs else []
        targets.append(chain[-1])
        for run in targets:
            if str(run.id) in done:
                continue
            done.add(str(run.id))
            _annotate_run(run, tags, metadata)
            changed += 1
    return changed


def tracing_enabled() -> bool:
    """True when LangSmith tracing is on for this process (env or ``tracing_context``)."""
    try:
        from langchain_core.tracers.context import _tracing_v2_is_enabled

        return bool(_tracing_v2_is_enabled())
    except Exception:  # pragma: no cover - tracing is optional
        return False
