"""Two real ``switchyard serve`` processes on two ports share one PostgreSQL (issue 14, item 7).

Offline model with simulated latency, real JWTs. Each check counts model calls from the
responses (``model_calls``: one per usage record the request paid for), never from a flag:

a) an answer computed on A is a cache hit on B;
b) 40 identical concurrent requests split across A and B make exactly one model call;
c) a per-tier rate limit holds across both (negative control: two embedded replicas, each with
   langchain's in-memory limiter, let through about twice the rate);
d) a thread started on A continues on B, and two concurrent turns of one thread on A and B
   both land (the cross-replica turn lock);
e) a personal answer on A is never served to another user on B, while its owner gets a hit;
f) a short TTL expires on both replicas.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from support.replicas import Replica, serve_replicas

pytestmark = pytest.mark.integration

FAST_RPS = 2.0  # the fast tier's limit in this deployment (burst = int(rps) = 2)
SHORT_TTL_S = 4.0
CONFIG = {
    # The fast tier answers in ~30 ms, so a response's arrival marks its admission by the rate
    # limiter; the standard tier keeps its default latency profile (~1-3 s per call).
    "tiers": {"fast": {"ttft_ms": 20, "tokens_per_s": 5000, "requests_per_second": FAST_RPS}},
    "cache": {"intent_ttl_s": {"status_check": SHORT_TTL_S, "refund_policy": SHORT_TTL_S}},
}
AUTH_SECRET = secrets.token_hex(32)
DEPLOYMENT_SECRET = secrets.token_hex(32)


def _env(home: Path, config: Path, **extra: str) -> dict[str, str]:
    return {"SWITCHYARD_HOME": str(home), "SWITCHYARD_CONFIG": str(config),
            "SWITCHYARD_OFFLINE": "true", "SWITCHYARD_SIMULATE_LATENCY": "true",
            "SWITCHYARD_AUTH": "jwt", "SWITCHYARD_AUTH_SECRET": AUTH_SECRET,
            "SWITCHYARD_SECRET": DEPLOYMENT_SECRET, "HF_HUB_OFFLINE": "1",
            "LANGSMITH_TRACING": "false", **extra}


@pytest.fixture(scope="module")
def replicas(deps, pg_url, pg_pool, switchyard_home, tmp_path_factory):
    """A and B on the shared database; C and D embedded (no database, cache off) for the
    negative control. ``deps`` has prepared the home (customer database, index, classifier)
    they all serve from; cache and threads of A and B live in PostgreSQL."""
    with pg_pool.connection() as conn:  # a clean shared state before the replicas start
        conn.execute("TRUNCATE sy_cache_entries, sy_cache_counters, sy_flights, sy_rate_limits,"
                     " sy_slots")
        conn.execute("UPDATE sy_cache_totals SET n = 0, bytes = 0")
    workdir = tmp_path_factory.mktemp("replicas")
    config = workdir / "switchyard.json"
    config.write_text(json.dumps(CONFIG))
    shared = _env(switchyard_home, config, SWITCHYARD_DATABASE_URL=pg_url)
    embedded = _env(switchyard_home, config, SWITCHYARD_CACHE__ENABLED="false")
    started = time.perf_counter()
    with serve_replicas([("A", shared), ("B", shared), ("C", embedded), ("D", embedded)],
                        workdir) as running:
        print(f"4 replicas ready in {time.perf_counter() - started:.1f} s")
        yield running


@pytest.fixture(autouse=True)
def _replica_logs(replicas):
    """After each test, the replicas' log tails: pytest shows them when the test failed."""
    yield
    for r in replicas.values():
        print(r.tail(30))


_tokens: dict[str, str] = {}


def token(user: str) -> str:
    """A real HS256 JWT from the service's own issuer (the one ``switchyard token`` prints)."""
    if user not in _tokens:
        from switchyard.core.settings import Settings
        from switchyard.service.auth import issue_token

        _tokens[user] = issue_token(Settings(auth_secret=AUTH_SECRET), user)
    return _tokens[user]


async def ask(client: httpx.AsyncClient, replica: Replica, user: str, message: str,
              thread_id: str | None = None) -> dict:
    body = {"message": message, **({"thread_id": thread_id} if thread_id else {})}
    resp = await client.post(f"{replica.url}/v1/chat", json=body,
                             headers={"Authorization": f"Bearer {token(user)}"})
    assert resp.status_code == 200, (replica.name, resp.status_code, resp.text)
    return resp.json()


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=100))


def test_cli_token_is_accepted(replicas) -> None:
    """`switchyard token USER` mints a token replica B accepts (and a forged one is refused)."""
    env = {**os.environ, "SWITCHYARD_AUTH_SECRET": AUTH_SECRET}
    out = subprocess.run([sys.executable, "-m", "switchyard", "token", "u-0003"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    jwt = out.stdout.strip().splitlines()[-1]
    body = {"message": "How do I enable multi-factor authentication?"}
    ok = httpx.post(f"{replicas['B'].url}/v1/chat", json=body, timeout=60,
                    headers={"Authorization": f"Bearer {jwt}"})
    assert ok.status_code == 200, ok.text
    bad = httpx.post(f"{replicas['B'].url}/v1/chat", json=body, timeout=60,
                     headers={"Authorization": f"Bearer {jwt[:-4]}AAAA"})
    assert bad.status_code == 401


async def test_a_answer_on_a_is_a_hit_on_b(replicas) -> None:
    a, b = replicas["A"], replicas["B"]
    text = "How do I invite a new user to my workspace?"
    async with client() as http:
        first = await ask(http, a, "u-0003", text)
        second = await ask(http, b, "u-0004", text)
    assert first["cache_hit"] is False and first["model_calls"] >= 1
    assert second["cache_hit"] is True and second["model_calls"] == 0
    assert second["answer"] == first["answer"]


async def test_b_forty_identical_concurrent_requests_make_one_model_call(replicas) -> None:
    a, b = replicas["A"], replicas["B"]
    text = "How do I set up SSO with SAML?"  # the standard tier: ~1-3 s of simulated latency
    async with client() as http:
        started = time.perf_counter()
        out = await asyncio.gather(*(ask(http, a if i % 2 else b, "u-0005", text)
                                     for i in range(40)))
        wall = time.perf_counter() - started
    calls = sum(r["model_calls"] for r in out)
    misses = [r for r in out if not r["cache_hit"]]
    print(f"b) 40 concurrent identical requests (20 on A, 20 on B): {calls} model call(s), "
          f"{len(out) - len(misses)} cache hits, {wall:.2f} s")
    assert calls == 1, f"{calls} model calls for 40 identical requests"
    assert len(misses) == 1 and misses[0]["route"] == "standard"
    assert len({r["answer"] for r in out}) == 1


async def _rate_run(x: Replica, y: Replica, users: list[str]) -> list[float]:
    """Personal questions of distinct users (no cache can share them), half on each replica,
    all sent at once; returns arrival times of the answers (s after the start), sorted."""
    async with client() as http:
        t0 = time.perf_counter()

        async def one(i: int, user: str) -> float:
            r = await ask(http, x if i % 2 else y, user, "What's my account balance?")
            assert r["route"] == "fast" and r["model_calls"] == 1 and not r["cache_hit"], r
            return time.perf_counter() - t0

        return sorted(await asyncio.gather(*(one(i, u) for i, u in enumerate(users))))


def _rate(arrivals: list[float], skip: int = 2) -> float:
    """Answers per second across both replicas after the first ``skip`` (the burst)."""
    rest = arrivals[skip:]
    return (len(rest) - 1) / (rest[-1] - rest[0])


def _active_users(home: Path, n: int, after: str) -> list[str]:
    """``n`` users the customer database lets sign in (a token must name an active user)."""
    import sqlite3

    with sqlite3.connect(home / "customers.sqlite") as conn:
        rows = conn.execute("SELECT id FROM users WHERE status = 'active' AND id > ? ORDER BY id"
                            " LIMIT ?", (after, n)).fetchall()
    assert len(rows) == n, rows
    return [r[0] for r in rows]


async def test_c_rate_limit_holds_across_replicas(replicas, switchyard_home) -> None:
    n = 16
    users = _active_users(switchyard_home, 2 * n, "u-0009")
    shared = await _rate_run(replicas["A"], replicas["B"], users[:n])
    control = await _rate_run(replicas["C"], replicas["D"], users[n:])
    shared_rate, control_rate = _rate(shared), _rate(control)
    in_3s = (sum(t <= 3.0 for t in shared), sum(t <= 3.0 for t in control))
    print(f"c) fast tier limit {FAST_RPS:g}/s, {n} calls split over two replicas: shared "
          f"limiter {shared_rate:.2f} calls/s ({in_3s[0]} answered in the first 3 s, all in "
          f"{shared[-1]:.1f} s); per-process limiters {control_rate:.2f} calls/s ({in_3s[1]} in "
          f"3 s, all in {control[-1]:.1f} s)")
    # GCRA: after the burst, admissions are at least 1/rps apart whatever replica asks.
    assert shared_rate <= FAST_RPS * 1.25
    assert shared[-1] >= (n - 2) / FAST_RPS - 0.25
    # Negative control: a limit per process lets two replicas through at about twice the rate.
    assert control_rate >= FAST_RPS * 1.6
    assert in_3s[1] > in_3s[0]


def _thread_key(home: Path, user: str, thread_id: str) -> str:
    """The service's key for a user's thread: the tenant is the user's organization (the token
    names none), the user is their keyed hash."""
    import sqlite3

    from switchyard.core.tracing import user_hash
    from switchyard.service.auth import organization_tenant

    with sqlite3.connect(home / "customers.sqlite") as conn:
        (org,) = conn.execute("SELECT org_id FROM users WHERE id = ?", (user,)).fetchone()
    return (f"{organization_tenant(org)}:{user_hash(user, DEPLOYMENT_SECRET.encode())}:"
            f"{thread_id}")


async def _thread_messages(pg_url: str, home: Path, user: str, thread_id: str) -> list:
    from switchyard.threads.pg_lock import SealedPostgresSaver
    from switchyard.threads.store import checkpoint_serde

    key = _thread_key(home, user, thread_id)
    # Read back as the replicas wrote it: sealed with the deployment secret.
    serde = checkpoint_serde(DEPLOYMENT_SECRET.encode())
    async with SealedPostgresSaver.from_conn_string(pg_url, serde=serde) as saver:
        found = await saver.aget_tuple({"configurable": {"thread_id": key, "checkpoint_ns": ""}})
    assert found is not None, "no checkpoint for the thread in PostgreSQL"
    return list(found.checkpoint["channel_values"]["messages"])


async def test_d_thread_started_on_a_continues_on_b(replicas, pg_url, switchyard_home) -> None:
    a, b = replicas["A"], replicas["B"]
    async with client() as http:
        first = await ask(http, a, "u-0006", "What's my account balance?", thread_id="t-d1")
        second = await ask(http, b, "u-0006", "And how do I pay it?", thread_id="t-d1")
    assert first["thread_id"] == second["thread_id"] == "t-d1"
    messages = await _thread_messages(pg_url, switchyard_home, "u-0006", "t-d1")
    # B's turn was built on A's checkpoint: both turns, in order, in one thread.
    assert [m.type for m in messages] == ["human", "ai", "human", "ai"]
    assert messages[0].content == "What's my account balance?"
    assert messages[1].content == first["answer"]
    assert messages[2].content == "And how do I pay it?"
    assert messages[3].content == second["answer"]

    # Two turns of one thread at once on two replicas: the turn lock makes them take turns, so
    # neither is lost (both would otherwise start from the same checkpoint).
    async with client() as http:
        await asyncio.gather(
            ask(http, a, "u-0007", "How do I reset my password?", thread_id="t-d2"),
            ask(http, b, "u-0007", "What payment methods do you accept?", thread_id="t-d2"))
    humans = [m.content for m in await _thread_messages(pg_url, switchyard_home, "u-0007", "t-d2")
              if m.type == "human"]
    assert sorted(humans) == ["How do I reset my password?",
                              "What payment methods do you accept?"]


async def test_e_personal_answer_never_served_to_another_user(replicas) -> None:
    a, b = replicas["A"], replicas["B"]
    text = "What's my account balance?"
    async with client() as http:
        mine = await ask(http, a, "u-0001", text)
        theirs = await ask(http, b, "u-0002", text)
        again = await ask(http, b, "u-0001", text)
    assert mine["cache_hit"] is False and mine["model_calls"] == 1
    assert theirs["cache_hit"] is False and theirs["model_calls"] == 1, \
        "a personal answer crossed users between replicas"
    assert again["cache_hit"] is True and again["model_calls"] == 0
    assert again["answer"] == mine["answer"]


async def test_f_short_ttl_expires_on_both_replicas(replicas) -> None:
    a, b = replicas["A"], replicas["B"]
    q_a, q_b = "Where can I see the status page?", "What is the refund policy?"
    async with client() as http:
        on_a = await ask(http, a, "u-0008", q_a)  # stored by A
        on_b = await ask(http, b, "u-0008", q_b)  # stored by B
        stored_at = time.time()  # both entries expire by stored_at + SHORT_TTL_S
        assert on_a["model_calls"] == 1 and on_b["model_calls"] == 1
        hit_b = await ask(http, b, "u-0009", q_a)
        hit_a = await ask(http, a, "u-0009", q_b)
        assert hit_b["cache_hit"] and hit_a["cache_hit"], "fresh entries must be hits"
        await asyncio.sleep(max(0.0, stored_at + SHORT_TTL_S + 0.2 - time.time()))
        late_b = await ask(http, b, "u-0009", q_a)  # A's entry, expired, asked on B
        late_a = await ask(http, a, "u-0009", q_b)  # B's entry, expired, asked on A
    assert late_b["cache_hit"] is False and late_b["model_calls"] == 1
    assert late_a["cache_hit"] is False and late_a["model_calls"] == 1
