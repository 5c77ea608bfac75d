"""Request-body limits, enforced before the application reads a byte of JSON.

A pure ASGI middleware (no ``BaseHTTPMiddleware``: that one buffers and wraps streaming
responses). For requests that carry a body it

- answers **413** from ``Content-Length`` alone when it exceeds ``service.max_body_bytes``,
  without buffering the body; a body without (or lying about) its length is read in chunks and
  cut off at the same cap, so memory per request is bounded by the cap whatever the client sends
  (the refused rest is drained and dropped, within a budget, so the client can read the 413);
- answers **400** when the JSON nests deeper than ``service.max_json_depth`` (a linear scan, so
  ``json.loads`` never recurses into a hostile document) or when ``Content-Length`` is malformed;
- replays the buffered body to the application otherwise, then hands over the real ``receive``
  so disconnect detection (SSE) keeps working.

A client that sent ``Expect: 100-continue`` has not sent its body yet and waits to be asked: a
refusal is then answered at once and nothing is drained (reading would ask for the body, the
server's first ``receive()`` answering "100 Continue"); ``Connection: close`` ends the exchange.

Refused bodies (here and in :mod:`switchyard.service.access`'s 401) are drained through one
:class:`DrainBudget` per app: all connections together read and drop at most
``service.refused_drain_bytes_per_s``. A flood of hostile bodies then waits on a timer instead of
taking the CPU that signed-in users' requests need.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import anyio.to_thread

from switchyard.core.jsonsafe import nesting_depth

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})
# Bodies above this are depth-scanned in a worker thread so the event loop stays responsive.
_SCAN_IN_THREAD_BYTES = 64 * 1024
# A refused body is drained (read and dropped, never kept) up to this much, for this long, so the
# client gets to read its 413; beyond either the connection is simply closed.
_DRAIN_BYTES = 512 * 1024 * 1024
_DRAIN_SECONDS = 15.0


def _human(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB" if n >= 1024 * 1024 else f"{n:,} bytes"


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_json_depth: int,
                 drain_budget: DrainBudget | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.drain_budget = drain_budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method", "GET") in _BODYLESS:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _reject(send, 400, "The Content-Length header is not a valid length.")
            return
        if declared is not None and declared > self.max_body_bytes:
            if declared <= _DRAIN_BYTES:
                await _discard(scope, receive, self.drain_budget)
            await _reject(send, 413, self._too_large(declared))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away; nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                chunks.clear()
                if message.get("more_body", False):
                    await _discard(scope, receive, self.drain_budget)
                await _reject(send, 413, self._too_large(None))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        chunks.clear()
        if body and await self._too_deep(body):
            await _reject(send, 400, f"The request body's JSON is nested deeper than "
                                     f"{self.max_json_depth} levels.")
            return
        await self.app(scope, _replay(body, receive), send)

    async def _too_deep(self, body: bytes) -> bool:
        limit = self.max_json_depth
        if len(body) > _SCAN_IN_THREAD_BYTES:
            depth = await anyio.to_thread.run_sync(lambda: nesting_depth(body, stop_above=limit))
        else:
            depth = nesting_depth(body, stop_above=limit)
        return depth > limit

    def _too_large(self, declared: int | None) -> str:
        size = f" ({declared:,} bytes)" if declared is not None else ""
        return (f"The request body{size} is larger than the {_human(self.max_body_bytes)} limit "
                "(service.max_body_bytes).")


def _content_length(scope: Scope) -> int | None:
    """The declared length, None when absent, -1 when malformed."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


class DrainBudget:
    """Bytes per second the process spends reading and dropping refused bodies, all connections
    together (GCRA: each chunk is admitted at its turn; a flood queues on a timer, never on the
    CPU). ``burst`` bytes go through at once, so a lone refused body is not slowed at all."""

    def __init__(self, bytes_per_s: float, burst: int = 4 * 1024 * 1024) -> None:
        if bytes_per_s <= 0:
            raise ValueError("bytes_per_s must be positive")
        self.bytes_per_s = float(bytes_per_s)
        self.burst_s = burst / self.bytes_per_s
        self._tat = 0.0  # the theoretical arrival time of the next byte

    async def take(self, n: int) -> None:
        now = time.monotonic()
        self._tat = max(self._tat, now) + n / self.bytes_per_s
        wait = self._tat - self.burst_s - now
        if wait > 0:
            await anyio.sleep(wait)


async def drain(receive: Receive, budget: DrainBudget | None, max_bytes: int,
                max_seconds: float) -> None:
    """Read and drop the rest of a refused body, within a byte and time budget.

    Why at all: HTTP/1.1 clients (httpx, curl, requests) send the whole body before reading the
    response, and closing a socket with unread data makes the kernel send a reset that destroys
    the answer in flight. Each chunk is dropped as it arrives, so memory stays flat; past the
    budget we stop and close anyway."""
    drained = 0
    with anyio.move_on_after(max_seconds):
        while drained < max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunk = len(message.get("body", b""))
            drained += chunk
            if not message.get("more_body", False):
                return
            if budget is not None:
                await budget.take(chunk)


def expects_continue(scope: Scope) -> bool:
    """The client waits for "100 Continue" before it sends the body (RFC 9110, 10.1.1)."""
    return any(name == b"expect" and value.strip().lower() == b"100-continue"
               for name, value in scope.get("headers", ()))


async def _discard(scope: Scope, receive: Receive, budget: DrainBudget | None) -> None:
    if not expects_continue(scope):
        await drain(receive, budget, _DRAIN_BYTES, _DRAIN_SECONDS)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # then wait for the real disconnect, as the server would

    return replay


async def _reject(send: Send, status: int, message: str) -> None:
    payload = json.dumps({"error": message}).encode()
    # Connection: close -- the unread rest of the body must not be parsed as a next request.
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})
