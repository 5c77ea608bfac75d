"""A local OpenAI-compatible server that enforces OpenAI's documented request rules (for tests).

``POST /v1/chat/completions`` (JSON and SSE streaming) answers deterministically and rejects, with
HTTP 400 and OpenAI-style error JSON, what OpenAI rejects:

- reasoning models (o1, o3, o4-mini, gpt-5 but not gpt-5-chat) take no ``max_tokens`` and no
  ``temperature`` other than 1; ``reasoning_effort`` only goes to reasoning models;
- every ``tool`` message answers a ``tool_calls`` id of the assistant message before it, and every
  such id is answered;
- a strict ``json_schema`` response format lists every property as required and sets
  ``additionalProperties: false``, recursively;
- ``stream_options`` only with ``stream: true``;
- llama.cpp's own sampling fields (``repeat_penalty``, ``dry_multiplier``, ``n_predict``...):
  "Unrecognized request argument supplied", unless the server is started as llama.cpp
  (``OpenAIContractServer(dialect="llama.cpp")``), which accepts them.

It reports ``usage`` (with ``prompt_tokens_details.cached_tokens`` and
``completion_tokens_details.reasoning_tokens``; as a final chunk when streaming with
``stream_options.include_usage``), makes tool calls (scripted per model, or when the last user
message says ``CALL_TOOL:<name>`` and that tool is offered), answers ``json_schema`` requests with
JSON valid for the schema, and on demand, per model, fails: each entry of ``fail`` is used by one
request, in order: ``"429"``, ``"500"``, ``"400"``, ``"hang"`` (sleeps ``hang_s``), ``"empty"``
(no content), ``"no_usage"``, ``"length"`` (reasoning eats the whole budget: no content,
``finish_reason=length``). Script it in-process (``server.script(model, ...)``) or over HTTP
(``POST /control {"model": ..., "fail": [...], "hang_s": 30, ...}``). Every request is logged
(``server.count(model)``, ``GET /control/requests``); a streamed answer's log entry says how
many content chunks were sent and whether the client read to the end (``stream_completed``).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

REASONING = re.compile(r"^(o\d|gpt-5(?!.*-chat))")
FAILURES = {"429", "500", "400", "hang", "empty", "no_usage", "length"}
# Request fields llama-server honours and OpenAI rejects (HTTP 400, "Unrecognized request
# argument supplied: ..."); OpenAI rejects any field it does not know, these are the ones a
# local tier's catalogue sampling may send.
LLAMA_CPP_FIELDS = {"repeat_penalty", "repeat_last_n", "dry_multiplier", "dry_base",
                    "dry_allowed_length", "dry_penalty_last_n", "dry_sequence_breakers", "top_k",
                    "min_p", "typical_p", "n_predict", "samplers", "t_max_predict_ms",
                    "cache_prompt", "mirostat", "xtc_probability", "xtc_threshold"}


def is_reasoning(model: str) -> bool:
    return bool(REASONING.match(model))


@dataclass
class Script:
    """How the server treats one model name."""

    fail: deque[str] = field(default_factory=deque)
    hang_s: float = 30.0
    no_usage: bool = False  # never report usage (not just once)
    cached_tokens: int = 0
    reasoning_tokens: int = 64
    tool_calls: deque[list[dict[str, Any]]] = field(default_factory=deque)
    answer: str | None = None
    json_answer: dict[str, Any] | None = None
    response_model: str | None = None  # answer under another name (a snapshot, an alias)
    stream_delay_s: float = 0.0  # between streamed content chunks (a model generating)


class InvalidRequest(Exception):
    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param, self.code = param, code


def _error(status: int, message: str, kind: str, param: str | None = None,
           code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


# -- request rules --
def check_request(body: dict[str, Any], dialect: str = "openai") -> None:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("you must provide a model parameter", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array", "messages")
    if is_reasoning(model):
        if "max_tokens" in body:
            raise InvalidRequest(
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter")
        temp = body.get("temperature")
        if temp is not None and temp != 1:
            raise InvalidRequest(
                f"Unsupported value: 'temperature' does not support {temp} with this model. "
                "Only the default (1) value is supported.", "temperature", "unsupported_value")
    elif "reasoning_effort" in body:
        raise InvalidRequest(
            "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
            "reasoning_effort", "unsupported_parameter")
    if "stream_options" in body and not body.get("stream"):
        raise InvalidRequest("The 'stream_options' parameter is only allowed when 'stream' is "
                             "enabled.", "stream_options")
    unknown = sorted(LLAMA_CPP_FIELDS & set(body)) if dialect == "openai" else []
    if unknown:
        raise InvalidRequest(f"Unrecognized request argument supplied: {unknown[0]}")
    _check_tool_messages(messages)
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        if spec.get("strict"):
            _check_strict(spec.get("schema") or {}, spec.get("schema") or {}, "schema")


def _check_tool_messages(messages: list[dict[str, Any]]) -> None:
    pending: set[str] = set()
    for i, msg in enumerate(messages):
        role = msg.get("role")
        if role == "tool":
            call_id = msg.get("tool_call_id")
            if call_id not in pending:
                raise InvalidRequest(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    f"preceeding message with 'tool_calls' (messages.[{i}]).",
                    f"messages.[{i}].role")
            pending.discard(call_id)
            continue
        if pending:
            raise InvalidRequest(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(sorted(pending))}", "messages")
        if role == "assistant":
            pending = {c.get("id") for c in msg.get("tool_calls") or []}
    if pending:
        raise InvalidRequest(
            "An assistant message with 'tool_calls' must be followed by tool messages responding "
            f"to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
            f"{', '.join(sorted(pending))}", "messages")


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        return node
    return schema


def _check_strict(schema: dict[str, Any], root: dict[str, Any], path: str) -> None:
    schema = _resolve(schema, root)
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            raise InvalidRequest(
                f"Invalid schema for response_format: In context={path}, "
                "'additionalProperties' is required to be supplied and to be false.",
                "response_format", "invalid_json_schema")
        missing = [k for k in props if k not in (schema.get("required") or [])]
        if missing:
            raise InvalidRequest(
                f"Invalid schema for response_format: In context={path}, 'required' is required "
                f"to be supplied and to be an array including every key in properties. Missing "
                f"{missing[0]!r}.", "response_format", "invalid_json_schema")
        for key, sub in props.items():
            _check_strict(sub, root, f"{path}.properties.{key}")
    if isinstance(schema.get("items"), dict):
        _check_strict(schema["items"], root, f"{path}.items")
    for key in ("anyOf", "allOf"):
        for j, sub in enumerate(schema.get(key) or []):
            _check_strict(sub, root, f"{path}.{key}.{j}")
    for key in ("$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            _check_strict(sub, root, f"{path}.{key}.{name}")


# -- answers --
def sample_json(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """A deterministic value valid for ``schema`` (first enum value, one-item arrays, ...)."""
    schema = _resolve(schema, root)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if _resolve(s, root).get("type") != "null"]
        return sample_json((options or schema["anyOf"])[0], root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {k: sample_json(v, root) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [sample_json(schema.get("items") or {"type": "string"}, root)]
    return {"string": "sample", "integer": 1, "number": 1.0, "boolean": True, "null": None}.get(
        kind, "sample")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _tool_args(tool: dict[str, Any]) -> dict[str, Any]:
    params = (tool.get("function") or {}).get("parameters") or {}
    required = params.get("required") or []
    props = params.get("properties") or {}
    return {k: sample_json(v, params) for k, v in props.items() if k in required}


def _scripted_or_triggered_calls(body: dict[str, Any], script: Script) -> list[dict[str, Any]]:
    tools = body.get("tools") or []
    last = body["messages"][-1]
    if not tools or last.get("role") == "tool":
        return []
    if script.tool_calls:
        return script.tool_calls.popleft()
    match = re.search(r"CALL_TOOL:(\w+)", _text(last.get("content")))
    if match:
        for tool in tools:
            if (tool.get("function") or {}).get("name") == match[1]:
                return [{"name": match[1], "arguments": _tool_args(tool)}]
    return []


@dataclass
class Answer:
    content: str | None
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    usage: dict[str, Any] | None


def make_answer(body: dict[str, Any], script: Script, failure: str | None, n: int) -> Answer:
    model = body["model"]
    messages = body["messages"]
    prompt = "".join(_text(m.get("content")) + json.dumps(m.get("tool_calls") or "")
                     for m in messages) + json.dumps(body.get("tools") or "")
    prompt_tokens = _tokens(prompt) + 3 * len(messages)
    budget = body.get("max_completion_tokens") or body.get("max_tokens") or 4096
    reasoning = script.reasoning_tokens if is_reasoning(model) else 0
    calls = _scripted_or_triggered_calls(body, script)
    content: str | None
    if failure == "length" or reasoning >= budget:
        # The reasoning used the whole budget: billed, nothing visible.
        content, calls, finish, reasoning = None, [], "length", budget
    elif failure == "empty":
        content, finish = "", "stop"
    elif calls:
        content, finish = None, "tool_calls"
    else:
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema") or {}
            content = json.dumps(script.json_answer or sample_json(schema, schema))
        elif messages[-1].get("role") == "tool":
            content = f"From the tool: {_text(messages[-1].get('content'))[:200]}"
        else:
            asked = next((_text(m.get("content")) for m in reversed(messages)
                          if m.get("role") == "user"), "")
            content = script.answer or f"{model} answers: {asked[:80]}"
        finish = "stop"
    tool_calls = [{"id": f"call_{n}_{i}", "type": "function",
                   "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
                  for i, c in enumerate(calls)]
    visible = _tokens(content or "") + sum(_tokens(c["function"]["arguments"]) for c in tool_calls)
    completion = visible + reasoning if finish != "length" else budget
    usage = None
    if failure != "no_usage" and not script.no_usage:
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": min(script.cached_tokens, prompt_tokens)},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }
    return Answer(content, tool_calls, finish, usage)


class OpenAIContractServer:
    """The app plus its state; ``start()`` runs it on a free port in a background thread."""

    def __init__(self, dialect: str = "openai") -> None:
        if dialect not in ("openai", "llama.cpp"):
            raise ValueError(f"unknown dialect {dialect!r}")
        self.dialect = dialect
        self.scripts: dict[str, Script] = {}
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.app = self._build_app()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- scripting and inspection --
    def script(self, model: str, **changes: Any) -> Script:
        """Change how ``model`` is served (fields of :class:`Script`; lists become queues)."""
        with self._lock:
            script = self.scripts.setdefault(model, Script())
            for key, value in changes.items():
                if not hasattr(script, key):
                    raise ValueError(f"unknown script field {key!r}")
                if key == "fail":
                    bad = set(value) - FAILURES
                    if bad:
                        raise ValueError(f"unknown failure(s) {sorted(bad)}; use {sorted(FAILURES)}")
                if key in ("fail", "tool_calls"):
                    value = deque(value)
                setattr(script, key, value)
            return script

    def reset(self) -> None:
        with self._lock:
            self.scripts.clear()
            self.requests.clear()

    def count(self, model: str | None = None) -> int:
        return sum(1 for r in self.requests if model is None or r["model"] == model)

    def bodies(self, model: str | None = None) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if model is None or r["model"] == model]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- HTTP --
    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/control")
        async def control(request: Request) -> JSONResponse:
            body = await request.json()
            model = body.pop("model", None)
            if not isinstance(model, str):
                return _error(400, "control needs a 'model'", "invalid_request_error", "model")
            try:
                self.script(model, **body)
            except (ValueError, TypeError) as exc:
                return _error(400, str(exc), "invalid_request_error")
            return JSONResponse({"ok": True})

        @app.post("/control/reset")
        async def control_reset() -> JSONResponse:
            self.reset()
            return JSONResponse({"ok": True})

        @app.get("/control/requests")
        async def control_requests() -> JSONResponse:
            return JSONResponse({"requests": self.requests})

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> Any:
            try:
                body = await request.json()
            except json.JSONDecodeError:
                return _error(400, "We could not parse the JSON body of your request.",
                              "invalid_request_error")
            return await self._complete(body, request.headers.get("authorization"))

        return app

    async def _complete(self, body: dict[str, Any], auth: str | None) -> Any:
        model = str(body.get("model", ""))
        with self._lock:
            n = len(self.requests)
            record = {"model": model, "body": body, "authorization": auth, "status": 200}
            self.requests.append(record)
            script = self.scripts.setdefault(model, Script())
            failure = script.fail.popleft() if script.fail else None
        try:
            check_request(body, self.dialect)
        except InvalidRequest as exc:
            record["status"] = 400
            return _error(400, str(exc), "invalid_request_error", exc.param, exc.code)
        if failure == "429":
            record["status"] = 429
            return _error(429, "Rate limit reached for requests", "requests",
                          code="rate_limit_exceeded", headers={"retry-after-ms": "10"})
        if failure == "500":
            record["status"] = 500
            return _error(500, "The server had an error while processing your request.",
                          "server_error")
        if failure == "400":
            record["status"] = 400
            return _error(400, "scripted bad request", "invalid_request_error")
        if failure == "hang":
            await asyncio.sleep(script.hang_s)
        answer = make_answer(body, script, failure, n)
        model = script.response_model or model
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                self._sse(model, n, answer, include_usage, record, script.stream_delay_s),
                media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": answer.content}
        if answer.tool_calls:
            message["tool_calls"] = answer.tool_calls
        payload: dict[str, Any] = {
            "id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": answer.finish_reason}],
        }
        if answer.usage is not None:
            payload["usage"] = answer.usage
        return JSONResponse(payload)

    async def _sse(self, model: str, n: int, answer: Answer, include_usage: bool,
                   record: dict[str, Any], delay_s: float = 0.0) -> Any:
        def chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> str:
            data: dict[str, Any] = {"id": f"chatcmpl-{n}", "object": "chat.completion.chunk",
                                    "created": 1_700_000_000, "model": model, "choices": choices}
            if include_usage:
                data["usage"] = usage
            return f"data: {json.dumps(data)}\n\n"

        record.update(chunks_sent=0, stream_completed=False)
        yield chunk([{"index": 0, "delta": {"role": "assistant", "content": ""},
                      "finish_reason": None}])
        text = answer.content or ""
        for start in range(0, len(text), 16):
            if delay_s:
                await asyncio.sleep(delay_s)
            yield chunk([{"index": 0, "delta": {"content": text[start:start + 16]},
                          "finish_reason": None}])
            record["chunks_sent"] += 1
        for i, call in enumerate(answer.tool_calls):
            yield chunk([{"index": 0, "delta": {"tool_calls": [{"index": i, **call}]},
                          "finish_reason": None}])
        yield chunk([{"index": 0, "delta": {}, "finish_reason": answer.finish_reason}])
        if include_usage and answer.usage is not None:
            yield chunk([], answer.usage)
        yield "data: [DONE]\n\n"
        record["stream_completed"] = True

    # -- lifecycle --
    def start(self) -> OpenAIContractServer:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True,
                                        name=f"openai-contract-server:{self.port}")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the OpenAI contract server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


if __name__ == "__main__":  # manual use: python tests/support/openai_server.py
    server = OpenAIContractServer().start()
    print(f"OpenAI contract server on {server.base_url} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
