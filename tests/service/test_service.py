"""The HTTP service over a real HTTP client (httpx against the ASGI app, lifespan running).

The app is started once per module: its lifespan builds the database, index and classifier
(``ensure_ready``) and compiles the graph with the SQLite checkpointer, exactly as in production.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatResult
from pydantic import SecretStr

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module"),
              pytest.mark.timeout(300)]

FAST_Q = "I forgot my password"
STANDARD_Q = "Help me debug this system error: webhook deliveries fail with 401"
EXPERT_Q = "I want to migrate 10K users from our old system to yours. What's the best approach?"


AUTH_SECRET = "test-signing-secret-" + "x" * 32


def _settings():
    from switchyard.core.settings import Settings

    return Settings().model_copy(update={
        "auth": "jwt", "auth_secret": SecretStr(AUTH_SECRET),
        "secret": SecretStr("test-deployment-secret"), "request_timeout_s": 30.0})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app() -> AsyncIterator[Any]:
    from switchyard.service.app import ServiceConfig, create_app

    application = create_app(ServiceConfig(settings=_settings()))
    async with application.router.lifespan_context(application):
        yield application


def _token(user: str = "u-0001", **claims: Any) -> str:
    from switchyard.service.auth import issue_token

    return issue_token(_settings(), user, **claims)


def _auth(user: str = "u-0001", tenant: str | None = None) -> dict[str, str]:
    # The tenant is a signed claim (a body cannot choose it): a fresh one is a fresh partition.
    claims = {"tenant": tenant} if tenant else {}
    return {"authorization": f"Bearer {_token(user, **claims)}"}


@pytest_asyncio.fixture(loop_scope="module")
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://switchyard.test",
                                 timeout=60) as c:
        yield c


def _user() -> str:
    return "u-0001"  # the seeded demo customer (an admin of its organization)


async def _chat(client: httpx.AsyncClient, message: str, user: str | None = None,
                **extra: Any) -> httpx.Response:
    tenant = extra.pop("tenant", None)
    return await client.post("/v1/chat", json={"message": message, **extra},
                             headers=_auth(user or _user(), tenant))


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"graph": True, "database": True, "knowledge_index": True,
                                      "storage": True}
    assert ready.json()["auth"] == "jwt"


async def test_no_or_bad_credential_is_401(client: httpx.AsyncClient) -> None:
    body = {"message": "What's my account balance?"}
    assert (await client.post("/v1/chat", json=body)).status_code == 401
    bad = await client.post("/v1/chat", json=body, headers={"authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"].startswith("Bearer")
    expired = await client.post("/v1/chat", json=body,
                                headers={"authorization": f"Bearer {_token(ttl_s=-60)}"})
    assert expired.status_code == 401 and "expired" in expired.json()["error"]
    from switchyard.core.settings import Settings
    from switchyard.service.auth import issue_token

    forged = issue_token(Settings(auth_secret=SecretStr("another-secret-" + "y" * 32)), "u-0550")
    resp = await client.post("/v1/chat", json=body, headers={"authorization": f"Bearer {forged}"})
    assert resp.status_code == 401
    stream = await client.post("/v1/chat/stream", json=body)
    assert stream.status_code == 401


async def test_a_body_user_other_than_the_token_is_403(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/chat", json={"message": "What's my account balance and last "
                                               "invoice?", "user_id": "u-0550"}, headers=_auth("u-0001"))
    assert resp.status_code == 403
    tenant = await client.post("/v1/chat", json={"message": "hi", "tenant": "t-other"},
                               headers={"authorization": f"Bearer {_token(tenant='t-mine')}"})
    assert tenant.status_code == 403


async def test_a_valid_token_answers_about_its_own_user(client: httpx.AsyncClient) -> None:
    from switchyard.tools.database import connect

    def facts(user: str) -> tuple[str, int]:
        with connect(_settings().db_path) as conn:
            return conn.execute(
                "SELECT o.name, (SELECT number FROM invoices i WHERE i.org_id = o.id "
                "ORDER BY issued DESC, number DESC LIMIT 1) FROM users u JOIN organizations o "
                "ON o.id = u.org_id WHERE u.id = ?", (user,)).fetchone()

    org_1, invoice_1 = facts("u-0001")
    _, invoice_550 = facts("u-0550")
    resp = await client.post("/v1/chat", json={"message": "What's my account balance and last invoice?"},
                             headers=_auth("u-0550"))
    assert resp.status_code == 200, resp.text
    answer = resp.json()["answer"]
    assert org_1 not in answer and str(invoice_1) not in answer, \
        "the token's user must never see another organization's data"
    assert str(invoice_550) in answer, "the answer is about the token's own organization"


@pytest.mark.parametrize(("message", "tier", "complexity"), [
    (FAST_Q, "fast", "low"), (STANDARD_Q, "standard", "medium"), (EXPERT_Q, "expert", "high"),
])
async def test_chat_routes_each_tier(client: httpx.AsyncClient, message: str, tier: str,
                                     complexity: str) -> None:
    # A fresh tenant: a miss is guaranteed (no earlier test filled this cache partition).
    resp = await _chat(client, message, tenant=f"t{uuid.uuid4().hex[:8]}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["agent"], body["route"], body["complexity"]) == (tier, tier, complexity)
    assert body["cache_hit"] is False and body["cost_usd"] > 0
    assert body["answer"] and body["model"] and body["thread_id"] is None  # one-shot
    assert body["tokens"]["input"] > 0 and body["latency_ms"] > 0
    assert body["intent"] and 0 <= body["confidence"] <= 1
    assert body["fallback_from"] == []


async def test_repeat_is_served_by_the_cache(client: httpx.AsyncClient) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}"
    question = "How do I add a teammate to my workspace?"
    first = (await _chat(client, question, tenant=tenant)).json()
    second = (await _chat(client, question, tenant=tenant)).json()
    assert first["cache_hit"] is False
    assert second["cache_hit"] is True and second["cost_usd"] == 0
    assert second["answer"] == first["answer"] and second["similarity"] >= 0.99


async def test_one_shot_requests_are_not_checkpointed(client: httpx.AsyncClient) -> None:
    import sqlite3

    path = _settings().checkpoint_path

    def checkpoints() -> int:
        with sqlite3.connect(path) as conn:
            return conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]

    before = checkpoints()
    for _ in range(3):
        resp = await _chat(client, "How do I add a teammate to my workspace?",
                           tenant=f"t{uuid.uuid4().hex[:8]}")
        assert resp.status_code == 200 and resp.json()["thread_id"] is None
    assert checkpoints() == before, "a one-shot request must leave no thread behind"
    threaded = await _chat(client, "How do I add a teammate to my workspace?",
                           thread_id=f"th-{uuid.uuid4().hex[:8]}")
    assert threaded.status_code == 200 and checkpoints() > before


async def test_thread_follow_up_sees_the_history(app: Any, client: httpx.AsyncClient) -> None:
    thread = f"th-{uuid.uuid4().hex[:8]}"
    first = await _chat(client, "What does error code WH-401 mean?", thread_id=thread)
    assert first.status_code == 200 and first.json()["thread_id"] == thread
    follow = await _chat(client, "and how do I fix it?", thread_id=thread)
    assert follow.status_code == 200 and follow.json()["thread_id"] == thread

    svc = app.state.service
    from switchyard.service.auth import Identity

    key = svc.thread_key(Identity(_user(), "org-1", True), "org-1", thread)
    state = (await svc.graph.aget_state({"configurable": {"thread_id": key}})).values
    kinds = [m.type for m in state["messages"]]
    assert kinds == ["human", "ai", "human", "ai"]
    # The follow-up reached the agents with the previous answer in its conversation.
    assert [m.type for m in state["conversation"]] == ["human", "ai"]
    assert state["history"] == ["What does error code WH-401 mean?"]
    # The same thread id under another user is another conversation (no history leaks).
    other = await _chat(client, "and how do I fix it?", user="u-0002", thread_id=thread)
    other_key = svc.thread_key(Identity("u-0002", "org-1", True), "org-1", thread)
    other_state = (await svc.graph.aget_state({"configurable": {"thread_id": other_key}})).values
    assert other.status_code == 200 and other_state["history"] == []


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data.append(line.split(":", 1)[1].strip())
        if name:
            events.append((name, json.loads("\n".join(data)) if data else {}))
    return events


async def test_stream_sends_route_then_answer_then_done(client: httpx.AsyncClient) -> None:
    payload = {"message": STANDARD_Q, "user_id": _user()}
    async with client.stream("POST", "/v1/chat/stream", json=payload, headers=_auth(tenant=f"t{uuid.uuid4().hex[:8]}")) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = _events((await resp.aread()).decode())
    names = [n for n, _ in events]
    assert names[0] == "route" and names[-1] == "done", names
    assert "answer" in names or "token" in names
    route = events[0][1]
    assert route["route"] == "standard" and route["classification"]["complexity"] == "medium"
    assert route["cache"]["hit"] is False
    done = events[-1][1]
    assert done["agent"] == "standard" and done["cost_usd"] > 0
    answer = next(d["text"] for n, d in events if n == "answer")
    assert answer == done["answer"]


def _swap_models(app: Any, monkeypatch: pytest.MonkeyPatch, **by_tier: BaseChatModel) -> None:
    """Replace some tiers' models in the running service's injected model factory."""
    from support.fakes import FakeModels

    deps = app.state.service.switchyard.deps
    monkeypatch.setattr(deps, "models", FakeModels(deps.settings, **by_tier))


async def test_stream_emits_tokens_from_a_streaming_model(
        app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Grounded in the password article (an ungrounded fast answer is replaced by the extract),
    # in words every retrieval of it holds. A user of its own: another test's password reset
    # for u-0001 changes the action's result, and with it the evidence.
    streaming = GenericFakeChatModel(messages=iter([AIMessage(
        "On the sign-in page, click Forgot password? and then Send reset link; open the email "
        "and click Reset password [1].")]))
    _swap_models(app, monkeypatch, fast=streaming)
    payload = {"message": FAST_Q}
    headers = _auth("u-0003", tenant=f"t{uuid.uuid4().hex[:8]}")
    async with client.stream("POST", "/v1/chat/stream", json=payload, headers=headers) as resp:
        events = _events((await resp.aread()).decode())
    names = [n for n, _ in events]
    assert names[0] == "route" and names[-1] == "done" and "answer" not in names, \
        events[-1][1].get("grounding")
    tokens = "".join(d["text"] for n, d in events if n == "token")
    assert names.count("token") > 1 and tokens == events[-1][1]["answer"]


def _shown(events: list[tuple[str, dict[str, Any]]]) -> str:
    """The text a client following the documented events ends up showing."""
    text = ""
    for name, data in events:
        if name == "reset":
            text = ""
        elif name == "token":
            text += data["text"]
        elif name == "answer":
            text = data["text"]
    return text


async def test_the_stream_is_the_answer_with_a_tool_preamble(
        app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from support.fakes import StreamingScript

    call = {"name": "lookup_error_code", "args": {"error_code": "WH-401"}, "id": "call_1"}
    standard = StreamingScript(turns=[
        ("Let me look that up for you first.", [call]),
        ("WH-401 means the webhook signature did not match: rotate the signing secret.", None)])
    _swap_models(app, monkeypatch, standard=standard)
    payload = {"message": STANDARD_Q}
    async with client.stream("POST", "/v1/chat/stream", json=payload, headers=_auth(tenant=f"t{uuid.uuid4().hex[:8]}")) as resp:
        events = _events((await resp.aread()).decode())
    names = [n for n, _ in events]
    assert names[-1] == "done" and "reset" in names and names.count("token") > 5
    done = events[-1][1]
    assert "Let me look that up" not in done["answer"]
    assert _shown(events) == done["answer"]


async def test_the_stream_is_the_answer_after_a_tier_fails_mid_answer(
        app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from support.fakes import StreamingScript

    fast = StreamingScript(turns=[("Reset links expire after", ConnectionError("dropped"))])
    _swap_models(app, monkeypatch, fast=fast)
    payload = {"message": FAST_Q}
    async with client.stream("POST", "/v1/chat/stream", json=payload, headers=_auth(tenant=f"t{uuid.uuid4().hex[:8]}")) as resp:
        events = _events((await resp.aread()).decode())
    names = [n for n, _ in events]
    assert "token" in names and "reset" in names and names[-1] == "done"
    done = events[-1][1]
    assert done["fallback_from"] == ["fast"] and done["agent"] == "standard"
    assert _shown(events) == done["answer"]


@pytest.mark.parametrize(("body", "status", "needle"), [
    (b'{"message": "", "user_id": "u-0001"}', 422, "empty"),
    (b'{"message": "   \\n ", "user_id": "u-0001"}', 422, "empty"),
    (b'{"message": 42, "user_id": "u-0001"}', 422, "valid string"),
    (b'{"user_id": "u-0001"}', 422, "message"),
    (b'{"message": "hi", "user_id": "u-0001", "thread_id": "../../etc"}', 422, "thread_id"),
    (b'{"message": "hi", "user_id": "u-0001", "admin": true}', 422, "admin"),
    (b'{"message": "caf\xe9", "user_id": "u-0001"}', 400, "UTF-8"),
    (b'{"message": "hi", "user_id": ', 400, "not valid JSON"),
    (b'["hi"]', 422, "JSON object"),
])
async def test_bad_requests_get_a_clear_4xx(client: httpx.AsyncClient, body: bytes, status: int,
                                            needle: str) -> None:
    for path in ("/v1/chat", "/v1/chat/stream"):
        resp = await client.post(path, content=body, headers={
            "content-type": "application/json", **_auth()})
        if path.endswith("stream") and needle == "empty":
            # The text is checked by the graph's intake, once the stream has started: the
            # refusal arrives as the stream's error event, with the same status and message.
            events = _events(resp.text)
            assert resp.status_code == 200 and events[-1][0] == "error", (path, resp.text)
            assert events[-1][1]["status"] == status and needle in events[-1][1]["error"]
            continue
        assert resp.status_code == status, (path, resp.text)
        assert needle in resp.json()["error"], resp.json()


async def test_too_long_message_is_rejected(client: httpx.AsyncClient) -> None:
    limit = _settings().max_input_chars
    resp = await _chat(client, "a" * (limit + 1))
    assert resp.status_code == 422 and f"{limit:,}" in resp.json()["error"]


class _Down(BaseChatModel):
    """A provider that is down: every call fails like a refused connection."""

    @property
    def _llm_type(self) -> str:
        return "down"

    def bind_tools(self, tools: Any, **kwargs: Any) -> _Down:  # type: ignore[override]
        return self

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        raise ConnectionError("provider unreachable (simulated)")


async def test_provider_failure_falls_back_to_another_tier(
        app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    _swap_models(app, monkeypatch, expert=_Down())
    thread = f"th-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    resp = await _chat(client, EXPERT_Q, thread_id=thread, tenant=f"t{uuid.uuid4().hex[:8]}")
    assert time.perf_counter() - start < 30
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["fallback_from"] == ["expert"] and body["agent"] == "standard"
    assert body["complexity"] == "high" and body["answer"]
    # The thread holds one copy of the question and the fallback's answer, ready for a follow-up.
    monkeypatch.undo()
    follow = await _chat(client, "thanks, and how long will that take?", thread_id=thread)
    assert follow.status_code == 200, follow.text


async def test_provider_failure_everywhere_is_a_clean_503(
        app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    _swap_models(app, monkeypatch, fast=_Down(), standard=_Down(), expert=_Down())
    start = time.perf_counter()
    resp = await _chat(client, STANDARD_Q, tenant=f"t{uuid.uuid4().hex[:8]}")
    assert time.perf_counter() - start < 30
    assert resp.status_code == 503
    assert "standard" in resp.json()["error"] and "retry" in resp.json()["error"]
    payload = {"message": STANDARD_Q}
    async with client.stream("POST", "/v1/chat/stream", json=payload, headers=_auth(tenant=f"t{uuid.uuid4().hex[:8]}")) as s:
        events = _events((await s.aread()).decode())
    names = [n for n, _ in events]
    assert names[0] == "route" and names[-1] == "error" and "reset" in names
    assert events[-1][1]["status"] == 503


async def test_a_hung_tier_falls_back_before_the_deadline(
        app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    class _Hung(_Down):
        async def _agenerate(self, *args: Any, **kwargs: Any) -> ChatResult:
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

    _swap_models(app, monkeypatch, fast=_Hung())
    deps = app.state.service.switchyard.deps
    monkeypatch.setattr(deps, "settings", deps.settings.model_copy(update={"request_timeout_s": 6.0}))
    start = time.perf_counter()
    resp = await _chat(client, FAST_Q, tenant=f"t{uuid.uuid4().hex[:8]}")
    elapsed = time.perf_counter() - start
    assert resp.status_code == 200, resp.text
    assert resp.json()["fallback_from"] == ["fast"] and resp.json()["agent"] == "standard"
    assert elapsed < 6.0, f"answered after {elapsed:.1f} s, past the 6 s deadline"


class _DatabaseGone:
    """A graph whose PostgreSQL went away mid-request (what psycopg raises then)."""

    def astream(self, *args: Any, **kwargs: Any) -> Any:
        import psycopg

        async def gen() -> Any:
            raise psycopg.errors.AdminShutdown("terminating connection due to administrator command")
            yield  # pragma: no cover

        return gen()


async def test_a_database_outage_is_a_clean_503_not_a_plain_500(
        app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile sweep on PostgreSQL: with the database stopped, /v1/chat and /v1/feedback
    answered a plain-text 500 ("Internal Server Error") and logged a traceback."""
    import psycopg_pool

    service = app.state.service
    monkeypatch.setattr(service, "_graph_for", lambda thread_id: _DatabaseGone())
    resp = await _chat(client, STANDARD_Q)
    assert resp.status_code == 503 and "database is unavailable" in resp.json()["error"]
    async with client.stream("POST", "/v1/chat/stream", json={"message": STANDARD_Q},
                             headers=_auth()) as s:
        events = _events((await s.aread()).decode())
    assert events[-1][0] == "error" and events[-1][1]["status"] == 503
    assert "database is unavailable" in events[-1][1]["error"]

    def no_connection(*args: Any, **kwargs: Any) -> Any:
        raise psycopg_pool.PoolTimeout("couldn't get a connection after 30.00 sec")

    monkeypatch.setattr(service.switchyard.feedback, "rate", no_connection)
    rated = await client.post("/v1/feedback", json={"run_id": "r-1", "score": 1},
                              headers=_auth())
    assert rated.status_code == 503 and "database is unavailable" in rated.json()["error"]
