"""One JSON line per request: the routing record minus personal data.

The line (``docs/observability.md`` documents each field) carries what an operator needs to
explain a routing decision and what ``switchyard plan --log`` needs to re-plan from production
traffic: tier, route and why, the classifier's scores, the cache verdict, cost, the
counterfactual expert cost, tokens, latency per node and per model call, and the run id (what
feedback is recorded against). It never carries a user id, a tenant, the answer, an error
message (it may quote the request) or a cache reason (the fact guard's reasons quote facts);
the request text only when the answer came from, or went to, the shared cache partition, which
holds only answers built from public sources.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from switchyard.record import RoutingRecord

LOGGER = "switchyard.requests"
EVENT = "request"
# Fields kept from each usage line (never the prompt or the answer).
USAGE_FIELDS = ("step", "tier", "model", "input_tokens", "cached_input_tokens", "output_tokens",
                "reasoning_tokens", "cost_usd", "usage_estimated", "wall_ms", "slot_wait_ms",
                "rate_limit_wait_ms", "retried_after", "truncated")


def cache_result(record: RoutingRecord) -> str:
    """hit, miss, skip (not looked up: not cacheable, disabled, a follow-up) or none (refused
    before the lookup)."""
    if record.cache_hit:
        return "hit"
    if not record.cache:
        return "none"
    return "miss" if record.cache.get("cacheable") else "skip"


def _scope(label: Any) -> str | None:
    parts = str(label or "").split("|")
    if len(parts) < 2:
        return None
    return "shared" if parts[1] == "public" else "personal"


def shared_request(record: RoutingRecord) -> bool:
    """True when the answer came from or went to the shared partition: built from public
    sources alone, so the request may be shown (the savings page) and logged."""
    cache = record.cache or {}
    if cache.get("hit"):
        return _scope(cache.get("partition")) == "shared"
    return bool(cache.get("stored")) and cache.get("store_scope") == "shared"


def log_line(record: RoutingRecord, *, text: str | None = None, status: int = 200,
             duration_ms: float | None = None, error_kind: str | None = None,
             ts: float | None = None) -> dict[str, Any]:
    """The request's log line (a dict; :func:`emit` writes it as one JSON line)."""
    cls = record.classification or {}
    cache = record.cache or {}
    shared = shared_request(record)
    return {
        "event": EVENT,
        "ts": round(time.time() if ts is None else ts, 3),
        "run_id": record.run_id,
        "status": status,
        "outcome": "error" if (record.error or error_kind) else "ok",
        "error_kind": error_kind,
        "tier": record.agent,
        "route": record.route,
        "route_reason": record.route_reason,
        "fallback_from": record.fallback_from,
        "fallback_reasons": record.fallback_reasons,
        "complexity": record.complexity,
        "intent": record.intent,
        "confidence": record.confidence,
        "in_scope": record.in_scope,
        "requires_auth": cls.get("requires_auth"),
        "follow_up": cls.get("follow_up"),
        "forced_tier": cls.get("forced_tier"),
        "classifier": cls.get("classifier"),
        "scores": cls.get("scores") or {},
        "intent_scores": cls.get("intent_scores") or {},
        "thread": record.thread_id is not None,
        "cache": {
            "result": cache_result(record),
            "match": cache.get("match"),
            "similarity": record.similarity,
            "scope": _scope(cache.get("partition")) if record.cache_hit else None,
            "stored": cache.get("stored"),
            "store_scope": cache.get("store_scope"),
            "keyed": cache.get("keyed"),
        },
        "cost_usd": record.cost_usd,
        "counterfactual_usd": record.counterfactual_usd,
        "tokens": record.tokens,
        "model": record.model,
        "model_calls": record.model_calls,
        "usage": [{k: u[k] for k in USAGE_FIELDS if k in u} for u in record.usage],
        "tools_used": record.tools_used,
        "latency_ms": record.latency_ms,
        "duration_ms": duration_ms,
        "timings_ms": record.timings_ms,
        "shared": shared,
        "text": text if shared and text else None,
    }


def failure_line(*, run_id: str | None, status: int, error_kind: str,
                 duration_ms: float | None, ts: float | None = None) -> dict[str, Any]:
    """The line of a request that ended without a record (a timeout, a busy thread, a crash)."""
    return {"event": EVENT, "ts": round(time.time() if ts is None else ts, 3), "run_id": run_id,
            "status": status, "outcome": "error", "error_kind": error_kind, "tier": None,
            "duration_ms": duration_ms}


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = record.msg if isinstance(record.msg, dict) else {"event": str(record.msg)}
        return json.dumps(line, default=str, ensure_ascii=False, separators=(",", ":"))


def configure(destination: str) -> logging.Logger:
    """The request logger writing to ``destination``: "stderr", "stdout", "off" or a file path
    (appended). Idempotent: the handler this function added before is replaced."""
    logger = logging.getLogger(LOGGER)
    for handler in [h for h in logger.handlers if getattr(h, "_switchyard", False)]:
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = False  # the lines are data: never re-formatted by the root logger
    if destination == "off":
        logger.setLevel(logging.CRITICAL + 1)
        return logger
    logger.setLevel(logging.INFO)
    if destination in ("stderr", "stdout"):
        handler: logging.Handler = logging.StreamHandler(
            sys.stderr if destination == "stderr" else sys.stdout)
    else:
        path = Path(destination).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(_JsonLines())
    handler._switchyard = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    return logger


def emit(line: dict[str, Any]) -> None:
    logging.getLogger(LOGGER).info(line)
