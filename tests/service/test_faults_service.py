"""Fault injection on the HTTP surface: hostile bodies get 413/400, never a 500 or a reset.

The middleware is driven directly over ASGI (to count how many bytes it pulls from the client)
and through ``create_app`` (to show it is wired in front of the endpoints). No lifespan runs:
the limits must hold before the graph, the database or the index are even touched.
"""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import httpx
import pytest

from switchyard.core.jsonsafe import JsonLimitError, loads_limited, nesting_depth
from switchyard.service import limits
from switchyard.service.limits import RequestLimitsMiddleware

MiB = 1024 * 1024


class _Echo:
    """An app that reads the whole body and echoes its length (what the real endpoints do)."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.calls += 1
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        payload = json.dumps({"bytes": len(body)}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})


async def _drive(app: Any, body_chunks: list[bytes], headers: list[tuple[bytes, bytes]]
                 ) -> tuple[int, dict, int]:
    """Run one POST through ``app``; returns (status, json body, bytes the app pulled)."""
    pulled = 0
    chunks = list(body_chunks)
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal pulled
        if not chunks:
            return {"type": "http.disconnect"}
        chunk = chunks.pop(0)
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/chat", "headers": headers,
             "query_string": b"", "http_version": "1.1", "scheme": "http",
             "server": ("test", 80), "client": ("test", 1), "root_path": ""}
    await app(scope, receive, send)
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, json.loads(body), pulled


def _deep(levels: int) -> bytes:
    return b'{"message": ' + b"[" * levels + b"]" * levels + b', "user_id": "u-0001"}'


async def test_declared_oversize_body_is_refused_without_reaching_the_app() -> None:
    echo = _Echo()
    app = RequestLimitsMiddleware(echo, max_body_bytes=MiB, max_json_depth=32)
    status, body, _ = await _drive(app, [b"x" * 65536] * 4,
                                   [(b"content-length", str(150 * MiB).encode())])
    assert status == 413 and "limit" in body["error"] and echo.calls == 0


async def test_absurd_declared_length_is_refused_before_reading_a_byte() -> None:
    echo = _Echo()
    app = RequestLimitsMiddleware(echo, max_body_bytes=MiB, max_json_depth=32)
    status, _, pulled = await _drive(app, [b"x" * 65536] * 4,
                                     [(b"content-length", str(10 * 1024 * MiB).encode())])
    assert status == 413 and pulled == 0 and echo.calls == 0


async def test_undeclared_oversize_body_is_cut_off_at_the_cap(monkeypatch) -> None:
    monkeypatch.setattr(limits, "_DRAIN_BYTES", 0)  # no courtesy drain: see where reading stops
    echo = _Echo()
    app = RequestLimitsMiddleware(echo, max_body_bytes=MiB, max_json_depth=32)
    chunk = b"x" * 65536
    status, _, pulled = await _drive(app, [chunk] * 160, [])  # 10 MiB, chunked, no length
    assert status == 413 and echo.calls == 0
    assert pulled <= MiB + len(chunk)


async def test_lying_content_length_is_cut_off_at_the_cap(monkeypatch) -> None:
    monkeypatch.setattr(limits, "_DRAIN_BYTES", 0)
    app = RequestLimitsMiddleware(_Echo(), max_body_bytes=MiB, max_json_depth=32)
    status, _, pulled = await _drive(app, [b"x" * 65536] * 40, [(b"content-length", b"10")])
    assert status == 413 and pulled <= MiB + 65536


async def test_refused_body_is_drained_without_being_kept() -> None:
    """The rest of a refused body is read (so the client can read its 413) and dropped."""
    echo, left, pulled, sent = _Echo(), 320, 0, []

    async def receive() -> dict:  # 20 MiB, chunked, each chunk a fresh allocation
        nonlocal left, pulled
        left -= 1
        pulled += 65536
        return {"type": "http.request", "body": bytes(65536), "more_body": left > 0}

    async def send(message: dict) -> None:
        sent.append(message)

    app = RequestLimitsMiddleware(echo, max_body_bytes=MiB, max_json_depth=32)
    tracemalloc.start()
    try:
        await app({"type": "http", "method": "POST", "path": "/v1/chat", "headers": []},
                  receive, send)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent[0]["status"] == 413 and echo.calls == 0 and pulled == 20 * MiB
    assert peak < 3 * MiB  # the cap plus a chunk, not the 20 MiB that went through


async def test_malformed_content_length_is_a_400() -> None:
    app = RequestLimitsMiddleware(_Echo(), max_body_bytes=MiB, max_json_depth=32)
    status, _, _ = await _drive(app, [b"{}"], [(b"content-length", b"12abc")])
    assert status == 400


@pytest.mark.parametrize("levels", [33, 1_000, 200_000])
async def test_deep_json_is_a_400(levels: int) -> None:
    echo = _Echo()
    app = RequestLimitsMiddleware(echo, max_body_bytes=MiB, max_json_depth=32)
    status, body, _ = await _drive(app, [_deep(levels)], [])
    assert status == 400 and "nested deeper than 32" in body["error"] and echo.calls == 0


async def test_body_within_limits_reaches_the_app_intact() -> None:
    echo = _Echo()
    app = RequestLimitsMiddleware(echo, max_body_bytes=MiB, max_json_depth=32)
    ok = _deep(30)
    status, body, _ = await _drive(app, [ok[:10], ok[10:]], [])
    assert (status, body, echo.calls) == (200, {"bytes": len(ok)}, 1)


async def test_chat_endpoint_refuses_hostile_bodies_with_clear_statuses() -> None:
    from pydantic import SecretStr

    from switchyard.core.settings import Settings
    from switchyard.service.app import ServiceConfig, create_app
    from switchyard.service.auth import issue_token

    settings = Settings().model_copy(update={"auth": "jwt",
                                             "auth_secret": SecretStr("limits-" + "s" * 32)})
    # No lifespan: nothing but the HTTP layer.
    app = create_app(ServiceConfig(settings=settings, prepare=False))
    transport = httpx.ASGITransport(app=app)
    signed = {"authorization": f"Bearer {issue_token(settings, 'u-0001')}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        # Without a credential: 401 before the body is looked at, whatever it holds.
        for body in (_deep(1_000), b" " * (2 * MiB)):
            refused = await client.post("/v1/chat", content=body)
            assert refused.status_code == 401
        # Signed in: the limits answer before any JSON is parsed.
        deep = await client.post("/v1/chat", content=_deep(1_000),
                                 headers={**signed, "content-type": "application/json"})
        assert deep.status_code == 400 and "nested deeper" in deep.json()["error"]
        huge = await client.post("/v1/chat", content=b" " * (2 * MiB), headers=signed)
        assert huge.status_code == 413 and "max_body_bytes" in huge.json()["error"]


def test_limits_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from switchyard.core.settings import Settings
    from switchyard.service.app import ServiceConfig, create_app

    monkeypatch.setenv("SWITCHYARD_SERVICE__MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("SWITCHYARD_SERVICE__MAX_JSON_DEPTH", "5")
    app = create_app(ServiceConfig(settings=Settings(), prepare=False))
    mw = next(m for m in app.user_middleware if m.cls is RequestLimitsMiddleware)
    assert (mw.kwargs["max_body_bytes"], mw.kwargs["max_json_depth"]) == (2048, 5)


def test_depth_scan_ignores_brackets_inside_strings() -> None:
    assert nesting_depth('{"a": "[[[[[[{{{{", "b": [1, [2]]}') == 3
    assert nesting_depth(r'{"a": "\"[[[[\\", "b": []}') == 2
    assert nesting_depth(b'[[["\xff[[[["]]]') == 3


def test_loads_limited_refuses_deep_documents_with_a_value_error() -> None:
    with pytest.raises(JsonLimitError):
        loads_limited("[" * 100_000 + "]" * 100_000, max_depth=64)
    assert loads_limited('{"a": [[1]]}', max_depth=3) == {"a": [[1]]}


async def test_refused_bodies_drain_within_the_process_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood of refused bodies waits on a timer: past the burst, every connection together
    drains at the budget's rate (a fake clock: the waits are computed, not slept)."""
    clock = [100.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(limits.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(limits.anyio, "sleep", sleep)
    budget = limits.DrainBudget(bytes_per_s=MiB, burst=2 * MiB)

    def body(chunks: int) -> Any:
        left = [chunks]

        async def receive() -> dict:
            left[0] -= 1
            return {"type": "http.request", "body": b"x" * (MiB // 4), "more_body": left[0] > 0}

        return receive

    # Three 2 MiB bodies (8 chunks of 256 KiB; a body's last chunk ends it, unwaited): 5.25 MiB
    # pass the budget, the first 2 MiB at once, the rest at 1 MiB/s whoever sends them.
    for _ in range(3):
        await limits.drain(body(8), budget, max_bytes=64 * MiB, max_seconds=60)
    assert sum(waits) == pytest.approx(3 * 7 / 4 - 2, abs=0.01)
    # No budget (a lone 413 in a unit test): nothing waits.
    waits.clear()
    await limits.drain(body(8), None, max_bytes=64 * MiB, max_seconds=60)
    assert waits == []
