"""HTTP service around the compiled graph.

    POST /v1/chat          JSON in (message, user_id, thread_id?, tenant?) -> answer + routing record
    POST /v1/chat/stream   server-sent events: route, then token* | answer, then done (or error)
    GET  /healthz          the process is alive
    GET  /readyz           graph compiled, customer database and knowledge index present (and,
                           with SWITCHYARD_DATABASE_URL, PostgreSQL reachable and migrated)

The graph is compiled once at start-up with a checkpointer (``switchyard/threads/store.py``: SQLite in
``SWITCHYARD_HOME/threads.sqlite``, or PostgreSQL shared by every replica) so a ``thread_id``
continues a conversation, one turn at a time. Threads are namespaced by tenant and a hash of the user
id, so one user cannot read another's thread by guessing its id. A provider failure in a tier is
retried on another tier (``fallback_from`` says so); if none answers, or the request exceeds its
deadline, the client gets a 503/504 with a message, never a hung connection.

Run it: ``switchyard serve`` or ``uvicorn service.app:app``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from langchain_core.messages import AIMessageChunk, HumanMessage
from sse_starlette import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from switchyard.agents.common import ANSWER_TAG
from switchyard.app import Switchyard
from switchyard.core.context import Context
from switchyard.core.langsmith_feedback import record_langsmith_feedback
from switchyard.core.sealing import SealError
from switchyard.core.settings import Settings, get_settings
from switchyard.core.tracing import user_hash
from switchyard.observability import request_log
from switchyard.record import RoutingRecord
from switchyard.service import metrics as metrics_endpoint
from switchyard.service import savings_page
from switchyard.service.access import WWW_AUTHENTICATE, AccessRefused, AuthenticateFirst, signed_in
from switchyard.service.auth import Authenticator, AuthError, Identity, configuration_problems
from switchyard.service.forget import router as forget_router
from switchyard.service.health import storage_health
from switchyard.service.limits import DrainBudget, RequestLimitsMiddleware
from switchyard.service.schemas import (
    ChatRequest,
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
)
from switchyard.threads.store import ThreadStore, TurnRefused, thread_key

log = logging.getLogger("switchyard.service")

# The errors counter's reason for a request that ended with this status and no routing record.
FAILURE_REASONS = {504: "timeout", 409: "thread_busy", 503: "overloaded", 499: "cancelled"}

DATABASE_DOWN = ("The database is unavailable right now; retry in a moment (the service is up "
                 "and answers again as soon as PostgreSQL does).")


def database_unavailable(exc: BaseException) -> bool:
    """PostgreSQL went away (shut down, unreachable) or no connection came within the pool's
    timeout: psycopg's OperationalError (AdminShutdown among them) and psycopg_pool's
    PoolTimeout. Matched by name, so the embedded deployment never imports psycopg."""
    return any(c.__name__ in ("OperationalError", "PoolTimeout")
               and c.__module__.split(".")[0] in ("psycopg", "psycopg_pool")
               for c in type(exc).__mro__)


# Stream events (``stream_mode="custom"``) the graph emits that the client must see.
CLIENT_EVENTS = {"reset"}


@dataclass
class ServiceConfig:
    """How this service is wired; every tunable is in settings."""

    settings: Settings | None = None          # default: the process's configured settings
    # A front door the host already opened (and closes itself); default: one opened here.
    switchyard: Switchyard | None = None
    # Outer bound on a request (default: settings.request_timeout_s + 5 s). The graph keeps the
    # request's own deadline and falls back between tiers inside it.
    request_timeout_s: float | None = None
    checkpoint_path: Path | None = None      # default: settings.checkpoint_path
    prepare: bool = True                      # build DB / index / classifier at start-up


class ServiceError(Exception):
    def __init__(self, status: int, message: str, *, observed: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.observed = observed  # already counted in the metrics (it had a routing record)


def _error(status: int, message: str, detail: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse(ErrorResponse(error=message, detail=detail).model_dump(exclude_none=True),
                        status_code=status)


# Error responses stay small whatever the body held: the first few problems, each cut short.
MAX_REPORTED_ERRORS = 20
_MAX_PART_CHARS = 160
# Bodies larger than this are decoded and validated in a worker thread, off the event loop.
_PARSE_IN_THREAD_BYTES = 16 * 1024


def _clip(text: str, limit: int = _MAX_PART_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _bounded_errors(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The message and detail of a 422: the first MAX_REPORTED_ERRORS problems, every part cut
    short (a hostile body's key names come back in ``loc``), and how many were left out."""
    shown = errors[:MAX_REPORTED_ERRORS]
    parts, detail = [], []
    for err in shown:
        loc = [_clip(str(p), 64) for p in err.get("loc", ()) if p != "body"]
        where = ".".join(loc) or "body"
        if err.get("type") == "json_invalid":
            why = (err.get("ctx") or {}).get("error")
            parts.append("The request body is not valid JSON" + (f" ({_clip(str(why))})" if why else ""))
        else:
            msg = _clip(str(err.get("msg", "invalid value")).removeprefix("Value error, "))
            parts.append(f"{where}: {msg}")
        detail.append({"loc": loc, "msg": _clip(str(err.get("msg", ""))),
                       "type": _clip(str(err.get("type", "")), 64)})
    if len(errors) > len(shown):
        parts.append(f"... and {len(errors) - len(shown):,} more problems")
    return "; ".join(parts) or "Invalid request.", detail


def _validation_message(errors: list[dict[str, Any]]) -> str:
    return _bounded_errors(errors)[0]


def parse_chat_body(body: bytes) -> ChatRequest:
    """Decode and validate a chat body; bounded work and bounded errors whatever it holds."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ServiceError(400, f"The request body is not valid UTF-8 (bad byte at offset "
                                f"{exc.start}). Send JSON encoded as UTF-8.") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ServiceError(400, f"The request body is not valid JSON ({exc.msg} at line "
                                f"{exc.lineno}, column {exc.colno}).") from exc
    if not isinstance(data, dict):
        raise ServiceError(422, "The request body must be a JSON object with 'message' and "
                                "'user_id'.")
    unknown = [k for k in data if k not in ChatRequest.model_fields]
    if unknown:
        # Refused before validation: a body of 100,000 unknown keys costs one pass over them.
        errors = [{"loc": ("body", k), "msg": "Extra inputs are not permitted",
                   "type": "extra_forbidden"} for k in unknown[:MAX_REPORTED_ERRORS - 1]]
        if len(unknown) > len(errors):
            errors.append({"loc": ("body",), "type": "extra_forbidden",
                           "msg": f"{len(unknown) - len(errors):,} more fields that are not "
                                  f"permitted (allowed: {', '.join(ChatRequest.model_fields)})"})
        raise RequestValidationError(errors)
    from pydantic import ValidationError

    try:
        return ChatRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_input=False)) from exc


class ChatService:
    """The graph plus what a request needs around it: threads, deadlines, fallbacks."""

    def __init__(self, switchyard: Switchyard, graph: Any, config: ServiceConfig,
                 oneshot_graph: Any = None, threads: ThreadStore | None = None) -> None:
        self.switchyard = switchyard
        self.settings = switchyard.settings
        self.graph = graph
        # Requests without a thread_id are one-shot: no checkpoint is written for them, so the
        # thread store grows only with conversations someone can continue.
        self.oneshot_graph = oneshot_graph or graph
        self.config = config
        # Tokens name a known, active user of the customer database; their tenant defaults to
        # the user's organization there.
        self.authenticator = Authenticator(self.settings, switchyard.database)
        # Where threads live and how a turn is serialised (per process, or across replicas).
        self.threads = threads or ThreadStore(None, self.settings)
        self.metrics = switchyard.metrics

    def identify(self, who: Identity | None, req: ChatRequest) -> Identity:
        """Who the request acts for: the verified identity, which the body may only repeat."""
        try:
            return self.authenticator.bind(who, req.user_id, req.tenant)
        except AuthError as exc:
            raise ServiceError(exc.status, exc.message) from exc

    def identify_rater(self, who: Identity | None, req: FeedbackRequest) -> Identity:
        try:
            return self.authenticator.bind(who, req.user_id, None)
        except AuthError as exc:
            raise ServiceError(exc.status, exc.message) from exc

    # -- feedback ----------------------------------------------------------------------------
    async def rate(self, req: FeedbackRequest, who: Identity) -> FeedbackResponse:
        """Store the asker's rating of their run; only the user who asked may rate it."""
        from switchyard.feedback import NotYours, UnknownRun

        store = self.switchyard.feedback
        try:
            record = await asyncio.to_thread(
                store.rate, req.run_id, tenant=who.tenant or self.settings.default_tenant,
                user_hash=user_hash(who.user_id, self.settings.hash_key) or "",
                score=req.score, comment=req.comment)
        except UnknownRun:
            raise ServiceError(404, f"No answered run {req.run_id!r} to rate (the run_id of a "
                                    "POST /v1/chat answer).") from None
        except NotYours:
            raise ServiceError(403, "Only the user who asked may rate this run.") from None
        except Exception as exc:
            if database_unavailable(exc):
                log.warning("feedback not stored: the database is unavailable (%s)",
                            type(exc).__name__)
                raise ServiceError(503, DATABASE_DOWN) from None
            raise
        traced = await asyncio.to_thread(record_langsmith_feedback, req.run_id, req.score,
                                         req.comment)
        return FeedbackResponse(run_id=req.run_id, score=req.score, stored=True,
                                langsmith=traced, route=record.get("route"),
                                answered_by=record.get("agent"))

    # -- threads ---------------------------------------------------------------------------
    def thread_key(self, who: Identity, tenant: str, thread_id: str) -> str:
        # Bound to the authenticated identity: namespaced by tenant and the user's keyed hash,
        # so one user cannot reach another's thread by guessing its id.
        return thread_key(tenant, user_hash(who.user_id, self.settings.hash_key) or "", thread_id)

    def prepare(self, req: ChatRequest, who: Identity
                ) -> tuple[dict[str, Any], Context, HumanMessage, str]:
        tenant = who.tenant or self.settings.default_tenant
        thread_id = req.thread_id
        # The run id is the trace's root run in LangSmith, and what feedback is recorded against.
        config: dict[str, Any] = {"run_name": "switchyard", "run_id": uuid.uuid4(),
                                  "configurable": {}}
        if thread_id:
            config["configurable"]["thread_id"] = self.thread_key(who, tenant, thread_id)
        ctx = Context(user_id=who.user_id, tenant=tenant)
        message = HumanMessage(req.message, id=f"req-{uuid.uuid4().hex}")
        return config, ctx, message, thread_id

    # -- one turn ----------------------------------------------------------------------------
    def _graph_for(self, thread_id: str | None) -> Any:
        return self.graph if thread_id else self.oneshot_graph

    def _lock_for(self, config: dict[str, Any]) -> Any:
        # One turn at a time per thread: a follow-up waits for the previous answer.
        return self.threads.turn(config["configurable"].get("thread_id"), self._deadline_s())

    async def chat(self, req: ChatRequest, who: Identity) -> RoutingRecord:
        started = time.perf_counter()
        with self.metrics.tracking():
            try:
                return await self._chat(req, who, started)
            except TurnRefused as exc:
                self._failed(started, exc.status)
                raise ServiceError(exc.status, exc.message) from None
            except SealError as exc:  # a checkpoint written under another deployment secret
                self._failed(started, 500)
                raise ServiceError(500, f"This conversation cannot be read: {exc}") from None
            except ServiceError as exc:
                if not exc.observed:
                    self._failed(started, exc.status)
                raise
            except Exception as exc:
                if database_unavailable(exc):  # a 503 in the one error shape, one log line
                    self._failed(started, 503, reason="database_unavailable")
                    raise ServiceError(503, DATABASE_DOWN) from None
                self._failed(started, 500)
                raise
            except BaseException as exc:
                self._failed(started, 499 if isinstance(exc, asyncio.CancelledError) else 500)
                raise

    def _failed(self, started: float, status: int, run_id: Any = None,
                reason: str | None = None) -> None:
        """Count and log a request that ended without a routing record."""
        reason = reason or FAILURE_REASONS.get(status, "internal")
        seconds = time.perf_counter() - started
        self.metrics.observe_failure(reason, duration_s=seconds)
        request_log.emit(request_log.failure_line(
            run_id=str(run_id) if run_id else None, status=status, error_kind=reason,
            duration_ms=round(seconds * 1000.0, 2)))

    async def _chat(self, req: ChatRequest, who: Identity, started: float) -> RoutingRecord:
        config, ctx, message, thread_id = self.prepare(req, who)
        async with self._lock_for(config):
            state: dict[str, Any] | None = None
            try:
                async with asyncio.timeout(self._deadline_s()):
                    async for chunk in self._graph_for(thread_id).astream(
                            {"messages": [message]}, config, context=ctx, stream_mode="values"):
                        state = chunk
            except TimeoutError as exc:
                self._release_flight(state)
                raise self._timeout() from exc
            except BaseException:
                self._release_flight(state)
                raise
        assert state is not None
        record = self._finish(state, thread_id, config["run_id"], started=started, text=req.message)
        await self._remember(state, record, who)
        return record

    async def _remember(self, state: dict[str, Any], record: RoutingRecord,
                        who: Identity) -> None:
        """Keep the answered run's routing facts, so its asker can rate it (POST /v1/feedback).
        A failure to keep them costs the rating, never the answer."""
        try:
            store = self.switchyard.feedback
            await asyncio.to_thread(
                store.record_run, run_id=str(record.run_id),
                tenant=who.tenant or self.settings.default_tenant,
                user_hash=user_hash(who.user_id, self.settings.hash_key) or "",
                text=str(state.get("request") or ""), history=list(state.get("history") or []),
                route=str(record.route), answered_by=record.agent, cache_hit=record.cache_hit,
                propensity=(record.exploration or {}).get("propensity"),
                record=record.model_dump())
        except Exception:  # noqa: BLE001 - the answer is already made
            log.warning("could not keep run %s for feedback", record.run_id, exc_info=True)

    def _release_flight(self, state: dict[str, Any] | None) -> None:
        """A run that ended early (client gone, deadline, failed checkpoint write) may hold a
        single-flight ticket: release it now so its twins compute at once, not after the lease.
        (A ticket already released is a no-op.)"""
        flight = (state or {}).get("flight")
        if flight:
            try:
                self.switchyard.cache.release_flight(flight["key"], flight["token"], False)
            except Exception:  # noqa: BLE001 - clean-up must not mask the original error
                log.warning("could not release a single-flight ticket", exc_info=True)

    def _deadline_s(self) -> float:
        # The graph keeps its own deadline (settings.request_timeout_s) and falls back between
        # tiers inside it; this outer bound only catches what runs outside the model calls.
        return self.config.request_timeout_s or self.settings.request_timeout_s + 5.0

    def _timeout(self) -> ServiceError:
        return ServiceError(504, f"The request took longer than {self._deadline_s():g} s "
                                 "and was stopped. Please retry; if it persists, the model provider "
                                 "is slow or overloaded.")

    def _finish(self, state: dict[str, Any], thread_id: str | None, run_id: uuid.UUID, *,
                started: float, text: str) -> RoutingRecord:
        """The turn's record, counted in the metrics and logged; a ServiceError when the turn
        ended without an answer."""
        record = RoutingRecord.from_state(state, thread_id=thread_id, run_id=str(run_id))
        status, kind = 200, None
        if state.get("error") and not state.get("classification"):
            # Refused at intake (empty, too long, unknown user): the request, not the service.
            status, kind = 422, "invalid_request"
        elif (state.get("outcome") or {}).get("unavailable"):
            # Every tier's provider failed: the turn ended with an apology, not an answer.
            status, kind = 503, "unavailable"
        line = self.metrics.observe(record, duration_s=time.perf_counter() - started, text=text,
                                    status=status, error_kind=kind)
        request_log.emit(line)
        if status != 200:
            raise ServiceError(status, str(state.get("error")), observed=True)
        return record

    # -- streaming ---------------------------------------------------------------------------
    async def stream(self, req: ChatRequest, who: Identity) -> AsyncIterator[dict[str, str]]:
        """SSE events: ``route`` (classification + cache verdict), then ``token``* (the answer,
        token by token) or one ``answer``, then ``done`` (the record). ``reset`` means "discard
        the tokens so far": a tier failed mid-answer and the next tier starts over.
        ``error`` replaces ``done`` when the request could not be answered."""
        started = time.perf_counter()
        with self.metrics.tracking():
            try:
                async for event in self._stream(req, who, started):
                    yield event
            except TurnRefused as exc:
                self._failed(started, exc.status)
                yield _sse("error", {"status": exc.status, "error": exc.message})
            except SealError as exc:
                self._failed(started, 500)
                yield _sse("error", {"status": 500,
                                     "error": f"This conversation cannot be read: {exc}"})
            except Exception as exc:
                if not database_unavailable(exc):
                    self._failed(started, 500)
                    raise
                self._failed(started, 503, reason="database_unavailable")
                yield _sse("error", {"status": 503, "error": DATABASE_DOWN})
            except BaseException as exc:  # the client went away, or the run failed
                cancelled = isinstance(exc, asyncio.CancelledError | GeneratorExit)
                self._failed(started, 499 if cancelled else 500)
                raise

    async def _stream(self, req: ChatRequest, who: Identity,
                      started: float) -> AsyncIterator[dict[str, str]]:
        config, ctx, message, thread_id = self.prepare(req, who)
        async with self._lock_for(config):
            streamed = False
            final: dict[str, Any] | None = None
            classification: Any = None
            route: str | None = None
            try:
                async with asyncio.timeout(self._deadline_s()):
                    async for ns, mode, chunk in self._graph_for(thread_id).astream(
                        {"messages": [message]}, config, context=ctx,
                        stream_mode=["updates", "messages", "values", "custom"], subgraphs=True,
                    ):
                        if mode == "values" and not ns:
                            final = chunk
                        elif mode == "updates" and not ns:
                            for node, update in (chunk or {}).items():
                                update = update or {}
                                if node == "classify":
                                    classification = update.get("classification")
                                    route = update.get("route")
                                elif node == "cache_lookup":
                                    # Known before the next values snapshot: kept for an early exit.
                                    final = {**(final or {}), "flight": update.get("flight")}
                                    yield _sse("route", _route_event(classification, route, update))
                        elif mode == "custom" and isinstance(chunk, dict):
                            if chunk.get("event") in CLIENT_EVENTS:
                                streamed = False
                                yield _sse(chunk["event"], {k: v for k, v in chunk.items()
                                                            if k != "event"})
                        elif mode == "messages":
                            if streamed and _is_tool_call_turn(chunk):
                                # The text so far was a preamble to tool calls, not the answer.
                                streamed = False
                                yield _sse("reset", {"reason": "tool_call"})
                            token = _answer_token(chunk)
                            if token:
                                streamed = True
                                yield _sse("token", {"text": token})
            except TimeoutError:
                self._release_flight(final)
                self._failed(started, 504, config["run_id"])
                yield _sse("error", {"status": 504, "error": self._timeout().message})
                return
            except BaseException:  # the client went away (cancelled), or the run failed
                self._release_flight(final)
                raise
            if final is None:  # pragma: no cover - astream always yields values
                yield _sse("error", {"status": 500, "error": "The request produced no result."})
                return
            try:
                record = self._finish(final, thread_id, config["run_id"], started=started,
                                      text=req.message)
            except ServiceError as exc:
                yield _sse("error", {"status": exc.status, "error": exc.message})
                return
            await self._remember(final, record, who)
            if not streamed:  # a cache hit, an error message, or a non-streaming model
                yield _sse("answer", {"text": record.answer})
            yield _sse("done", record.model_dump())


def _sse(event: str, data: dict[str, Any]) -> dict[str, str]:
    return {"event": event, "data": json.dumps(data, default=str)}


def _route_event(classification: Any, route: str | None,
                 lookup: dict[str, Any]) -> dict[str, Any]:
    if hasattr(classification, "model_dump"):
        classification = classification.model_dump()
    classification = classification or {}
    cache = dict(lookup.get("cache") or {})
    keys = ("complexity", "intent", "confidence", "in_scope", "recommended_agent", "forced_tier",
            "requires_auth", "scores")
    return {"classification": {k: classification.get(k) for k in keys if k in classification},
            # On a hit the answer comes from the cache (written by the tier named in ``agent``).
            "route": route, "answered_by": "cache" if cache.get("hit") else route,
            "cache": cache}


def _is_tool_call_turn(chunk: Any) -> bool:
    message, meta = chunk
    return (ANSWER_TAG in (meta.get("tags") or []) and isinstance(message, AIMessageChunk)
            and bool(message.tool_call_chunks or message.tool_calls))


def _answer_token(chunk: Any) -> str:
    """Text of a streamed answer chunk: only calls the agents tag as the user-facing answer;
    tool-call chunks and whole (non-streamed) messages are skipped."""
    message, meta = chunk
    if not isinstance(message, AIMessageChunk) or message.tool_call_chunks:
        return ""
    if ANSWER_TAG not in (meta.get("tags") or []):
        return ""
    content = message.content
    if isinstance(content, list):
        content = "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content)


def _settings_of(config: ServiceConfig) -> Settings:
    """The service's settings: the host's front door's, the config's, else the process's."""
    if config.switchyard is not None:
        return config.switchyard.settings
    return config.settings or get_settings()


def create_app(config: ServiceConfig | None = None) -> FastAPI:
    config = config or ServiceConfig()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = _settings_of(config)
        problems = configuration_problems(settings)
        if problems:
            raise RuntimeError("switchyard service cannot start: " + " ".join(problems))
        if settings.auth == "none":
            log.warning("AUTHENTICATION IS OFF (SWITCHYARD_AUTH=none): the body's user_id is "
                        "trusted. Local trial only: anyone who can reach this port can act as "
                        "any user.")
        path = config.checkpoint_path or settings.checkpoint_path
        request_log.configure(settings.observability.request_log)
        app.state.service = None
        started = time.perf_counter()
        own = config.switchyard is None
        # Seeding / ingest / classifier fitting is sync and slow: aopen keeps it off the loop.
        sy = config.switchyard or await Switchyard.aopen(settings, setup=config.prepare)
        try:
            async with sy.threads(path) as threads:
                graph = sy.compile(checkpointer=threads.saver)
                app.state.service = ChatService(sy, graph, config, oneshot_graph=sy.graph,
                                                threads=threads)
                pruning = asyncio.create_task(threads.prune_forever())
                log.info("switchyard service ready in %.1f s (threads and limits: %s)",
                         time.perf_counter() - started,
                         "PostgreSQL, shared" if sy.pools else "this process")
                try:
                    async with metrics_endpoint.listener(settings,
                                                         lambda: app.state.service):
                        yield
                finally:
                    pruning.cancel()
                    app.state.service = None
        finally:
            if own:
                await sy.aclose()

    app = FastAPI(title="switchyard", version="0.1.0", lifespan=lifespan,
                  description="Routes each support request to the cheapest agent tier that can "
                              "handle it, with a semantic cache in front.")

    app_settings = _settings_of(config)
    limits = app_settings.service
    # One budget for every refused body the app drains (401 and 413 alike).
    drain_budget = DrainBudget(limits.refused_drain_bytes_per_s)
    # 413 / 400 before any body is parsed.
    app.add_middleware(RequestLimitsMiddleware, max_body_bytes=limits.max_body_bytes,
                       max_json_depth=limits.max_json_depth, drain_budget=drain_budget)
    # Outermost: every /v1/ route is authenticated from the headers before its body is read.
    app.add_middleware(AuthenticateFirst, prefixes=("/v1/",), settings=_settings_of(config),
                       drain_budget=drain_budget)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, detail = _bounded_errors(list(exc.errors()))
        return _error(422, message, detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # The framework's own refusals (no such route, a method the route does not take, a body
        # FastAPI could not parse) in the service's one error shape, {"error": ...}.
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if message == "There was an error parsing the body":
            message = "The request body is not valid JSON encoded as UTF-8."
        response = _error(exc.status_code, message)
        response.headers.update(exc.headers or {})  # 405's Allow
        return response

    @app.exception_handler(ServiceError)
    @app.exception_handler(AccessRefused)
    async def _service_error(request: Request, exc: ServiceError | AccessRefused) -> JSONResponse:
        response = _error(exc.status, exc.message)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
        return response

    def service(request: Request) -> ChatService:
        svc = getattr(request.app.state, "service", None)
        if svc is None:
            raise ServiceError(503, "The service is starting up; retry in a few seconds.")
        return svc

    async def parse(request: Request) -> ChatRequest:
        # Parsed by hand so undecodable bytes and bad JSON get a clear 400, not a generic error;
        # a large body is parsed in a worker thread so other users' requests never wait on it.
        body = await request.body()
        if len(body) > _PARSE_IN_THREAD_BYTES:
            return await anyio.to_thread.run_sync(parse_chat_body, body)
        return parse_chat_body(body)

    @app.post("/v1/chat", response_model=RoutingRecord,
              responses={400: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
                         503: {"model": ErrorResponse}, 504: {"model": ErrorResponse}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": ChatRequest.model_json_schema()}}}})
    async def chat(request: Request, who: Identity | None = Depends(signed_in)) -> RoutingRecord:
        svc = service(request)
        req = await parse(request)
        return await svc.chat(req, svc.identify(who, req))

    @app.post("/v1/chat/stream", response_class=EventSourceResponse,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": ChatRequest.model_json_schema()}}}})
    async def chat_stream(request: Request,
                          who: Identity | None = Depends(signed_in)) -> EventSourceResponse:
        svc = service(request)
        req = await parse(request)
        return EventSourceResponse(svc.stream(req, svc.identify(who, req)), ping=15)

    @app.post("/v1/feedback", response_model=FeedbackResponse,
              responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse},
                         422: {"model": ErrorResponse}})
    async def feedback(request: Request, body: FeedbackRequest,
                       who: Identity | None = Depends(signed_in)) -> FeedbackResponse:
        """Rate one of your own answered runs (0 = bad .. 1 = good); stored beside its routing
        record and, with LangSmith tracing on, recorded as feedback on the run."""
        svc = service(request)
        return await svc.rate(body, svc.identify_rater(who, body))

    # Operator endpoints (the 'admin' role): forget a user.
    app.include_router(forget_router)

    # The operator's views: GET /metrics, and the savings page (GET /, GET /savings.json).
    metrics_endpoint.register(app, app_settings, service)
    savings_page.register(app, app_settings, service)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        svc = getattr(request.app.state, "service", None)
        settings = svc.settings if svc is not None else _settings_of(config)
        checks = {
            "graph": getattr(request.app.state, "service", None) is not None,
            "database": settings.db_path.exists(),
            "knowledge_index": settings.index_dir.exists() and any(settings.index_dir.iterdir()),
        }
        problems = await asyncio.to_thread(storage_health, settings)
        extra: list[dict[str, Any]] = []
        if settings.database_url:
            # Cache, threads and limits live in PostgreSQL: check it, not the home's disk (the
            # customer database and knowledge index are still read from local files).
            problems = [p for p in problems if p.component != "home"]
            pools = svc.switchyard.pools if svc is not None else None
            why = await pools.check() if pools is not None else "not connected yet"
            checks["postgres"] = why is None
            if why:
                extra.append({"component": "postgres", "kind": "unavailable", "message": why})
        checks["storage"] = not problems
        ready = all(checks.values())
        auth = ("jwt" if settings.auth == "jwt" else
                "none: LOCAL TRIAL, the body's user_id is trusted (SWITCHYARD_AUTH=none)")
        point = getattr(svc.switchyard.classifier, "operating_point", None) if svc else None
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks,
                             "auth": auth, "routing": point() if point else None,
                             "problems": [p.to_dict() for p in problems] + extra},
                            status_code=200 if ready else 503)

    return app


app = create_app()
