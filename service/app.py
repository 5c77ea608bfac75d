"""HTTP service around the compiled graph.

    POST /v1/chat          JSON in (message, user_id, thread_id?, tenant?) -> answer + routing record
    POST /v1/chat/stream   server-sent events: route, then token* | answer, then done (or error)
    GET  /healthz          the process is alive
    GET  /readyz           graph compiled, customer database and knowledge index present

The graph is compiled once at start-up with an ``AsyncSqliteSaver`` (``SWITCHYARD_HOME/threads.sqlite``)
so a ``thread_id`` continues a conversation. Threads are namespaced by tenant and a hash of the user
id, so one user cannot read another's thread by guessing its id. A provider failure in a tier is
retried on another tier (``fallback_from`` says so); if none answers, or the request exceeds its
deadline, the client gets a 503/504 with a message, never a hung connection.

Run it: ``switchyard serve`` or ``uvicorn service.app:app``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from langchain_core.messages import AIMessageChunk, HumanMessage
from sse_starlette import EventSourceResponse
from switchyard.service.limits import RequestLimitsMiddleware
from switchyard.service.schemas import ChatRequest, ChatResponse, ErrorResponse

from switchyard.runner import record_from_state
from switchyard.settings import TIERS, get_settings
from switchyard.storage import storage_health
from switchyard.tracing import user_hash

log = logging.getLogger("switchyard.service")

# Which tier answers when a tier's provider fails: the nearest one, the more capable first.
FALLBACKS: dict[str, tuple[str, ...]] = {
    "fast": ("standard", "expert"),
    "standard": ("expert", "fast"),
    "expert": ("standard", "fast"),
}
# Graph nodes whose model output is the user-facing answer (streamed as tokens).
ANSWER_NODES = {("fast", "answer"), ("standard", "agent"), ("expert", "synthesize")}


@dataclass
class ServiceConfig:
    """Service knobs (env ``SWITCHYARD_REQUEST_TIMEOUT_S``); everything else is in settings."""

    request_timeout_s: float = field(
        default_factory=lambda: float(os.environ.get("SWITCHYARD_REQUEST_TIMEOUT_S", "90")))
    checkpoint_path: Path | None = None      # default: settings.checkpoint_path
    prepare: bool = True                      # build DB / index / classifier at start-up


class ServiceError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, detail: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse(ErrorResponse(error=message, detail=detail).model_dump(exclude_none=True),
                        status_code=status)


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        if err.get("type") == "json_invalid":
            parts.append("The request body is not valid JSON"
                         + (f" ({err['ctx']['error']})" if err.get("ctx", {}).get("error") else ""))
            continue
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts) or "Invalid request."


class ChatService:
    """The graph plus what a request needs around it: threads, deadlines, fallbacks."""

    def __init__(self, graph: Any, config: ServiceConfig) -> None:
        self.graph = graph
        self.config = config
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # -- threads ---------------------------------------------------------------------------
    def _lock(self, key: str) -> asyncio.Lock:
        # One turn at a time per thread: a follow-up waits for the previous answer.
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    @staticmethod
    def thread_key(req: ChatRequest, tenant: str, thread_id: str) -> str:
        return f"{tenant}:{user_hash(req.user_id)}:{thread_id}"

    def prepare(self, req: ChatRequest) -> tuple[dict[str, Any], Any, HumanMessage, str]:
        from switchyard.graph.context import Context

        settings = get_settings()
        tenant = req.tenant or settings.default_tenant
        thread_id = req.thread_id or uuid.uuid4().hex
        config = {"run_name": "switchyard",
                  "configurable": {"thread_id": self.thread_key(req, tenant, thread_id)}}
        ctx = Context(user_id=req.user_id, tenant=tenant)
        # A fixed message id: a fallback re-run on the same thread replaces it, never duplicates it.
        message = HumanMessage(req.message, id=f"req-{uuid.uuid4().hex}")
        return config, ctx, message, thread_id

    async def _failed_tier(self, config: dict[str, Any]) -> str | None:
        snapshot = await self.graph.aget_state(config)
        stuck = [n for n in snapshot.next if n in TIERS]
        self._release_flight(snapshot.values)
        return stuck[0] if stuck else None

    @staticmethod
    def _release_flight(values: dict[str, Any]) -> None:
        # The failed run never reached cache_store, which releases the single-flight ticket; without
        # this, identical requests would wait for the flight's full timeout.
        flight_id = (values.get("cache") or {}).get("flight_id")
        if not flight_id:
            return
        try:
            from switchyard.graph.nodes import release_flight

            release_flight(flight_id)
        except Exception:  # pragma: no cover - best effort clean-up
            log.exception("could not release a single-flight ticket")

    # -- one turn ----------------------------------------------------------------------------
    async def chat(self, req: ChatRequest) -> dict[str, Any]:
        config, ctx, message, thread_id = self.prepare(req)
        deadline = asyncio.get_running_loop().time() + self.config.request_timeout_s
        async with self._lock(config["configurable"]["thread_id"]):
            state, fallback_from = await self._invoke_with_fallback(config, ctx, message, deadline)
        return self._record(state, thread_id, fallback_from)

    async def _invoke_with_fallback(self, config: dict[str, Any], ctx: Any, message: HumanMessage,
                                    deadline: float) -> tuple[dict[str, Any], str | None]:
        try:
            async with asyncio.timeout_at(deadline):
                return await self.graph.ainvoke({"messages": [message]}, config, context=ctx), None
        except TimeoutError as exc:
            raise self._timeout() from exc
        except Exception as exc:
            failed = await self._failed_tier(config)
            log.warning("tier %s failed: %s: %s", failed, type(exc).__name__, exc)
            first_error = exc
        for tier in FALLBACKS.get(failed or "", ()):
            # The cache is skipped: its partition is the failed tier's, and the answer differs.
            fallback_ctx = replace(ctx, force_tier=tier, use_cache=False)
            try:
                async with asyncio.timeout_at(deadline):
                    state = await self.graph.ainvoke({"messages": [message]}, config,
                                                     context=fallback_ctx)
                return state, failed
            except TimeoutError as exc:
                raise self._timeout() from exc
            except Exception as exc:  # this tier's provider is down too: try the next one
                await self._failed_tier(config)
                log.warning("fallback tier %s failed: %s: %s", tier, type(exc).__name__, exc)
        raise self._unavailable(failed, first_error)

    def _timeout(self) -> ServiceError:
        return ServiceError(504, f"The request took longer than {self.config.request_timeout_s:g} s "
                                 "and was stopped. Please retry; if it persists, the model provider "
                                 "is slow or overloaded.")

    @staticmethod
    def _unavailable(tier: str | None, exc: BaseException) -> ServiceError:
        where = f"the {tier} tier's model provider" if tier else "the request pipeline"
        return ServiceError(503, f"Sorry, {where} failed ({type(exc).__name__}) and no other tier "
                                 "could answer. Please retry in a moment.")

    @staticmethod
    def _record(state: dict[str, Any], thread_id: str, fallback_from: str | None) -> dict[str, Any]:
        record = record_from_state(state)
        record.update(thread_id=thread_id, fallback_from=fallback_from)
        return record

    # -- streaming ---------------------------------------------------------------------------
    async def stream(self, req: ChatRequest) -> AsyncIterator[dict[str, str]]:
        """SSE events: ``route`` (classification + cache verdict), ``token``* or ``answer``,
        ``done`` (the record); ``fallback`` if a tier failed; ``error`` instead of ``done``."""
        config, ctx, message, thread_id = self.prepare(req)
        deadline = asyncio.get_running_loop().time() + self.config.request_timeout_s
        async with self._lock(config["configurable"]["thread_id"]):
            attempts: list[tuple[Any, str | None]] = [(ctx, None)]
            failed: str | None = None
            first_error: BaseException | None = None
            while attempts:
                attempt_ctx, fallback_from = attempts.pop(0)
                streamed = False
                final: dict[str, Any] | None = None
                classification: dict[str, Any] = {}
                route: str | None = None
                try:
                    async with asyncio.timeout_at(deadline):
                        async for ns, mode, chunk in self.graph.astream(
                            {"messages": [message]}, config, context=attempt_ctx,
                            stream_mode=["updates", "messages", "values"], subgraphs=True,
                        ):
                            if mode == "values" and not ns:
                                final = chunk
                            elif mode == "updates" and not ns:
                                for node, update in (chunk or {}).items():
                                    update = update or {}
                                    if node == "classify":
                                        classification = update.get("classification") or {}
                                        route = update.get("route")
                                    elif node == "cache_lookup":
                                        yield _sse("route", _route_event(classification, route,
                                                                         update))
                            elif mode == "messages":
                                token = _answer_token(ns, chunk)
                                if token:
                                    streamed = True
                                    yield _sse("token", {"text": token})
                except TimeoutError:
                    yield _sse("error", {"status": 504, "error": self._timeout().message})
                    return
                except Exception as exc:
                    tier = await self._failed_tier(config)
                    if first_error is None:
                        failed, first_error = tier, exc
                        attempts = [(replace(ctx, force_tier=t, use_cache=False), tier)
                                    for t in FALLBACKS.get(tier or "", ())]
                    if attempts:
                        yield _sse("fallback", {"failed_tier": tier, "error": type(exc).__name__,
                                                "next_tier": attempts[0][0].force_tier})
                    continue
                if final is None:  # pragma: no cover - astream always yields values
                    break
                record = self._record(final, thread_id, fallback_from)
                if not streamed:  # a cache hit, an error message, or a non-streaming model
                    yield _sse("answer", {"text": record["answer"]})
                yield _sse("done", ChatResponse(**record).model_dump())
                return
            error = self._unavailable(failed, first_error or RuntimeError("no answer"))
            yield _sse("error", {"status": error.status, "error": error.message})


def _sse(event: str, data: dict[str, Any]) -> dict[str, str]:
    return {"event": event, "data": json.dumps(data, default=str)}


def _route_event(classification: dict[str, Any], route: str | None,
                 lookup: dict[str, Any]) -> dict[str, Any]:
    cache = {k: v for k, v in (lookup.get("cache") or {}).items() if k != "flight_id"}
    keys = ("complexity", "intent", "confidence", "in_scope", "recommended_agent", "forced_tier",
            "requires_auth", "scores")
    return {"classification": {k: classification.get(k) for k in keys if k in classification},
            # On a hit the answer comes from the cache (written by the tier named in ``agent``).
            "route": route, "answered_by": "cache" if cache.get("hit") else route,
            "cache": cache}


def _answer_token(ns: tuple[str, ...], chunk: Any) -> str:
    """Text of a streamed answer chunk; whole (non-streamed) messages and tool calls are skipped."""
    message, meta = chunk
    if not isinstance(message, AIMessageChunk) or message.tool_call_chunks:
        return ""
    tier = (ns[0].split(":", 1)[0] if ns else "") or str(meta.get("langgraph_checkpoint_ns", "")).split(":", 1)[0]
    node = meta.get("langgraph_node", "")
    if (tier, node) not in ANSWER_NODES:
        return ""
    content = message.content
    if isinstance(content, list):
        content = "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content)


def create_app(config: ServiceConfig | None = None) -> FastAPI:
    config = config or ServiceConfig()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
        from switchyard.graph.graph import builder

        from switchyard.runner import ensure_ready

        settings = get_settings()
        path = config.checkpoint_path or settings.checkpoint_path
        path.parent.mkdir(parents=True, exist_ok=True)
        app.state.service = None
        started = time.perf_counter()
        if config.prepare:
            # Seeding / ingest / classifier fitting is sync and slow: keep it off the event loop.
            await asyncio.to_thread(ensure_ready)
        async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
            await saver.setup()
            graph = builder.compile(checkpointer=saver, name="switchyard")
            app.state.service = ChatService(graph, config)
            log.info("switchyard service ready in %.1f s", time.perf_counter() - started)
            yield
            app.state.service = None

    app = FastAPI(title="switchyard", version="0.1.0", lifespan=lifespan,
                  description="Routes each support request to the cheapest agent tier that can "
                              "handle it, with a semantic cache in front.")

    app.add_middleware(RequestLimitsMiddleware)  # 413 / 400 before any body is parsed

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return _error(422, _validation_message(list(exc.errors())), errors)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return _error(exc.status, exc.message)

    def service(request: Request) -> ChatService:
        svc = getattr(request.app.state, "service", None)
        if svc is None:
            raise ServiceError(503, "The service is starting up; retry in a few seconds.")
        return svc

    async def parse(request: Request) -> ChatRequest:
        # Parsed by hand so undecodable bytes and bad JSON get a clear 400, not a generic error.
        body = await request.body()
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
        try:
            return ChatRequest.model_validate(data)
        except Exception as exc:
            from pydantic import ValidationError

            if isinstance(exc, ValidationError):
                raise RequestValidationError(exc.errors()) from exc
            raise

    @app.post("/v1/chat", response_model=ChatResponse,
              responses={400: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
                         503: {"model": ErrorResponse}, 504: {"model": ErrorResponse}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": ChatRequest.model_json_schema()}}}})
    async def chat(request: Request) -> ChatResponse:
        svc = service(request)
        req = await parse(request)
        record = await svc.chat(req)
        return ChatResponse(**record)

    @app.post("/v1/chat/stream", response_class=EventSourceResponse,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": ChatRequest.model_json_schema()}}}})
    async def chat_stream(request: Request) -> EventSourceResponse:
        svc = service(request)
        req = await parse(request)
        return EventSourceResponse(svc.stream(req), ping=15)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        settings = get_settings()
        checks = {
            "graph": getattr(request.app.state, "service", None) is not None,
            "database": settings.db_path.exists(),
            "knowledge_index": settings.index_dir.exists() and any(settings.index_dir.iterdir()),
        }
        checks["storage"] = not (problems := await asyncio.to_thread(storage_health, settings))
        ready = all(checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks,
                             "problems": [p.to_dict() for p in problems]},
                            status_code=200 if ready else 503)

    return app


app = create_app()
