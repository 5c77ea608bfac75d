"""Outcomes as LangSmith feedback: recorded on switchyard's runs, and read back for training.

``POST /v1/feedback`` records a rating on the run's trace (key :data:`FEEDBACK_KEY`) when tracing
is on; ``switchyard route train --from-langsmith PROJECT`` reads such ratings back, whoever wrote
them (the endpoint, or a reviewer in LangSmith).

Reading starts from the feedback (``list_feedback`` by key: only rated runs are fetched, however
many runs the project holds), then fetches those runs, in the project, by id:

- through the runs query API (``client.runs.query``, ``POST /api/v2/runs/query``) when the
  deployment serves queries from SmithDB (``/info``'s ``instance_flags``: LangSmith 0.16 and
  later). The SDK deprecates ``list_runs`` in its favour and removes it after 2027-01-31;
- through ``list_runs`` (``POST /runs/query``) on a ClickHouse-only deployment (a self-hosted
  server before 0.16), while the installed SDK still has it.

The SDK makes the same choice for its own reads (``langsmith._internal._v2_migration_utils``).
Feedback is written with the run's project (``session_id``): SmithDB-only deployments refuse
run feedback without it, and the SDK warns that the others will.

Both are bounded by a start-time window (``since_days``): the runs query API reads only the last
day unless told otherwise, so the window is always explicit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import warnings
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

log = logging.getLogger(__name__)

# The LangSmith feedback key an outcome is recorded under (POST /v1/feedback) and read back from.
FEEDBACK_KEY = "user_score"
DEFAULT_SINCE_DAYS = 90
_IDS_PER_QUERY = 500  # run ids per request body; pages of up to 1,000 runs (the API's maximum)
_SELECTS = ["ID", "INPUTS", "OUTPUTS", "EXTRA", "METADATA"]

T = TypeVar("T")


class LangSmithReadError(RuntimeError):
    """LangSmith could not be read; the message says why, for a person."""


@dataclass(frozen=True)
class RatedRun:
    """What training needs from one rated run, whichever API returned it."""

    run_id: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    metadata: Mapping[str, Any]


def record_langsmith_feedback(run_id: str, score: float, comment: str | None) -> bool:
    """Record an outcome as LangSmith feedback on the run (key :data:`FEEDBACK_KEY`) when
    tracing is on; False when it is off or LangSmith cannot be reached (the outcome is kept in
    switchyard's own store either way)."""
    from switchyard.core.tracing import tracing_enabled

    if not tracing_enabled():
        return False
    try:
        from langchain_core.tracers.langchain import get_client, wait_for_all_tracers
        from langsmith.utils import LangSmithNotFoundError, get_tracer_project

        # The rated run must have reached LangSmith before its feedback (the tracer sends runs
        # in background batches; a rating can follow its answer within milliseconds).
        wait_for_all_tracers()
        client = get_client()
        try:
            project_id = _project_id(client, get_tracer_project())
        except LangSmithNotFoundError:  # LangSmith may still locate the run by its id
            project_id = None
        client.create_feedback(run_id, key=FEEDBACK_KEY, score=float(score), comment=comment,
                               session_id=project_id)
        return True
    except Exception:  # noqa: BLE001 - LangSmith is optional; the outcome is stored locally
        _PROJECT_IDS.clear()  # a project deleted and made again has a new id: look it up again
        log.warning("could not record LangSmith feedback on run %s", run_id, exc_info=True)
        return False


def read_langsmith_feedback(project: str, *, since_days: float = DEFAULT_SINCE_DAYS,
                            limit: int = 10_000, client: Any = None) -> list[dict[str, Any]]:
    """The outcomes recorded on a LangSmith project's switchyard runs started in the last
    ``since_days`` days: one dict per rated root run with ``run_id``, ``score`` (the latest
    :data:`FEEDBACK_KEY` feedback), the request text and history, the tier that answered,
    whether it was a cache hit and the routing propensity, as far as the run shows them.

    Raises :class:`LangSmithReadError` when LangSmith cannot be reached, the project does not
    exist or the server refuses the query."""
    from langsmith.utils import LangSmithError

    if not project.strip():
        raise LangSmithReadError("name the LangSmith project to read (the name is empty)")
    if since_days <= 0:
        raise LangSmithReadError(f"the window must be a positive number of days (got {since_days})")
    since = datetime.now(UTC) - timedelta(days=since_days)
    try:
        if client is None:
            from langsmith import Client

            client = Client()
        scores = _latest_scores(client.list_feedback(feedback_key=[FEEDBACK_KEY], limit=limit))
        if not scores:
            return []
        runs = _read_runs(client, project, list(scores), since)
    except LangSmithError as exc:
        raise LangSmithReadError(f"could not read LangSmith at {_url(client)}: {exc}") from exc
    except Exception as exc:
        # The runs query client raises httpx and its own API errors; an answer the SDK cannot
        # parse is pydantic's ValidationError. Anything else is not LangSmith's: raised as is.
        if type(exc).__module__.split(".")[0] not in ("langsmith", "httpx", "pydantic_core"):
            raise
        raise LangSmithReadError(f"could not read LangSmith at {_url(client)}: "
                                 f"{type(exc).__name__}: {str(exc)[:500]}") from exc
    return [_as_outcome(run, scores[run.run_id]) for run in runs if run.run_id in scores]


_PROJECT_IDS: dict[tuple[str, str], str] = {}


def _project_id(client: Any, project: str) -> str:
    """The id of a tracing project by name (kept per process until a feedback write fails)."""
    key = (str(getattr(client, "api_url", "")), project)
    if key not in _PROJECT_IDS:
        _PROJECT_IDS[key] = str(client.read_project(project_name=project).id)
    return _PROJECT_IDS[key]


def _existing_project_id(client: Any, project: str) -> str:
    from langsmith.utils import LangSmithNotFoundError

    try:
        return _project_id(client, project)
    except LangSmithNotFoundError as exc:
        name = project if len(project) <= 200 else project[:200] + "..."
        raise LangSmithReadError(f"LangSmith has no project named {name!r}") from exc


def _url(client: Any) -> str:
    return str(getattr(client, "api_url", "") or "the configured endpoint")


def _latest_scores(feedback: Iterable[Any]) -> dict[str, float]:
    """run id -> the latest score among its feedback (a rating can be revised)."""
    latest: dict[str, tuple[Any, float]] = {}
    for fb in feedback:
        if fb.score is None or fb.run_id is None:
            continue
        rid, at = str(fb.run_id), fb.modified_at or fb.created_at
        if rid not in latest or (at and latest[rid][0] and at > latest[rid][0]):
            latest[rid] = (at, float(fb.score))
    return {rid: score for rid, (_, score) in latest.items()}


def uses_runs_query(client: Any) -> bool:
    """True when the runs are to be read through the runs query API: the deployment serves
    queries from SmithDB, or the SDK no longer has ``list_runs``."""
    has_query = isinstance(getattr(type(client), "runs", None), property)
    if not hasattr(client, "list_runs"):
        if not has_query:
            raise LangSmithReadError("the installed langsmith package has neither the runs query "
                                     "API nor list_runs(); install langsmith>=0.4")
        return True
    if not has_query:
        return False
    # As the SDK reads /info: SmithDB serves queries only when the flag says so.
    flags = getattr(client.info, "instance_flags", None) or {}
    return bool(flags.get("sdb_query_enabled", False))


def _read_runs(client: Any, project: str, ids: Sequence[str], since: datetime) -> list[RatedRun]:
    chunks = [list(ids[i:i + _IDS_PER_QUERY]) for i in range(0, len(ids), _IDS_PER_QUERY)]
    project_id = _existing_project_id(client, project)  # a clear error, not the query's 404
    if uses_runs_query(client):
        return _run_sync(_query_runs(client, project_id, chunks, since))
    out: list[RatedRun] = []
    with warnings.catch_warnings():
        # Chosen on purpose for a server without the runs query API.
        warnings.filterwarnings("ignore", r"list_runs\(\) is deprecated", DeprecationWarning)
        for chunk in chunks:
            for r in client.list_runs(project_id=project_id, run_ids=chunk, is_root=True,
                                      start_time=since):
                out.append(RatedRun(str(r.id), r.inputs or {}, r.outputs or {},
                                    (r.extra or {}).get("metadata") or {}))
    return out


async def _query_runs(client: Any, project_id: str, chunks: Sequence[list[str]],
                      since: datetime) -> list[RatedRun]:
    out: list[RatedRun] = []
    for chunk in chunks:
        pages = client.runs.query(project_ids=[project_id], ids=chunk, is_root=True,
                                  min_start_time=since, selects=_SELECTS, page_size=1000)
        async for r in pages:
            meta = r.metadata or (r.extra or {}).get("metadata") or {}
            out.append(RatedRun(str(r.id), r.inputs or {}, r.outputs or {}, meta))
    return out


_QUERY_LOOP: tuple[int, asyncio.AbstractEventLoop] | None = None  # (pid, loop)
_QUERY_LOOP_LOCK = threading.Lock()


def _query_loop() -> asyncio.AbstractEventLoop:
    """The one event loop, on a daemon thread, that every runs query of this process runs on.
    The langsmith client's async HTTP client keeps its pooled connections on the loop that
    opened them: with a new loop per read (``asyncio.run``), a client handed in again found
    them dead ("Event loop is closed") and each read paid a retry after a back-off. A forked
    child starts its own loop (the parent's thread does not exist there)."""
    global _QUERY_LOOP
    with _QUERY_LOOP_LOCK:
        if _QUERY_LOOP is None or _QUERY_LOOP[0] != os.getpid() or _QUERY_LOOP[1].is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="langsmith-runs-query",
                             daemon=True).start()
            _QUERY_LOOP = (os.getpid(), loop)
        return _QUERY_LOOP[1]


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a runs query coroutine from synchronous code, also when this thread already runs a
    loop (a notebook): on the process's query loop, waiting here for its result."""
    return asyncio.run_coroutine_threadsafe(coro, _query_loop()).result()


def _as_outcome(run: RatedRun, score: float) -> dict[str, Any]:
    outputs, meta = run.outputs, run.metadata
    return {"run_id": run.run_id, "score": score,
            "text": outputs.get("request") or _last_human(run.inputs),
            "history": list(outputs.get("history") or []),
            "answered_by": outputs.get("agent") or meta.get("agent"),
            "cache_hit": bool(meta.get("cache_hit") or (outputs.get("cache") or {}).get("hit")),
            "propensity": meta.get("propensity")
            or (outputs.get("exploration") or {}).get("propensity")}


def _last_human(inputs: Mapping[str, Any]) -> str | None:
    for m in reversed(list(inputs.get("messages") or [])):
        if isinstance(m, Mapping):
            kind = m.get("type") or (m.get("kwargs") or {}).get("type") or m.get("role")
            content = m.get("content") or (m.get("kwargs") or {}).get("content")
            if kind in ("human", "user") and isinstance(content, str):
                return content
    return None
