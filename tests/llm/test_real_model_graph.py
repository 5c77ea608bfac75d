"""The whole graph on real ChatOpenAI models (the factory's) against the local OpenAI contract
server: every tier's requests are accepted, tool messages pair up, and successive
``Switchyard.ask`` calls (each its own ``asyncio.run``) work (issue 13 items 2, 4, 7)."""

from __future__ import annotations

import pytest

from switchyard.app import Switchyard
from switchyard.core.settings import Settings

pytestmark = pytest.mark.integration

REQUESTS = [
    ("What's my account balance?", "fast"),
    ("Help me debug this system error: webhook deliveries fail with 401", "standard"),
    ("I want to migrate 10K users from our old system to yours. What's the best approach?", "expert"),
]


@pytest.fixture
def online(openai_server, sy, monkeypatch):
    """Settings that reach the contract server (``sy`` prepared the home offline)."""
    monkeypatch.setenv("SWITCHYARD_OFFLINE", "false")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    assert not Settings().use_offline_model
    return openai_server


def _switchyard(sy: Switchyard, settings: Settings | None = None) -> Switchyard:
    """A front door on the online settings, sharing the session's encoder, index and database,
    with its own model factory and classifier."""
    return Switchyard(settings or Settings(), database=sy.database, encoder=sy.encoder,
                      retriever=sy.retriever, cache=sy.cache)


def _ask(app: Switchyard, text: str, **kw) -> dict:
    return app.ask(text, use_cache=False, **kw).model_dump()


def test_successive_runs_through_every_tier_on_real_models(online, sy):
    server = online
    # The standard and expert agents are each asked to call a tool once.
    call = [{"name": "lookup_error_code", "arguments": {"error_code": "401"}}]
    server.script("gpt-4.1", tool_calls=[call])
    server.script("o1", tool_calls=[call])
    app = _switchyard(sy)
    records = [_ask(app, text, force_tier=tier) for text, tier in REQUESTS]
    for rec, (_, tier) in zip(records, REQUESTS, strict=True):
        assert rec["error"] is None and rec["agent"] == tier and rec["answer"]
        assert rec["usage"] and all(not u["usage_estimated"] for u in rec["usage"])
        assert all(u["price_source"] == "catalog" for u in rec["usage"])
    assert {r["status"] for r in server.requests} == {200}, [
        (r["model"], r["status"]) for r in server.requests if r["status"] != 200]
    assert server.count("gpt-4o-mini") >= 1 and server.count("gpt-4.1") >= 2 and server.count("o1") >= 2
    assert "lookup_error_code" in records[1]["tools_used"] + records[2]["tools_used"]
    expert_bodies = server.bodies("o1")
    assert all("temperature" not in b or b["temperature"] == 1 for b in expert_bodies)
    # A loop of ten runs, each its own asyncio.run: a new event loop must never meet a closed one.
    for i in range(10):
        again = _ask(app, REQUESTS[i % 3][0], force_tier="fast")
        assert again["error"] is None and again["answer"], (i, again["error"])


def test_an_expert_answer_that_exhausts_its_budget_is_retried_and_never_empty(online, sy):
    server = online
    # The first o1 call spends its whole budget on hidden reasoning: no text, finish=length.
    server.script("o1", fail=["length"])
    rec = _ask(_switchyard(sy), REQUESTS[2][0], force_tier="expert", user_id="u-0001")
    assert rec["error"] is None and rec["agent"] == "expert" and rec["answer"].strip()
    retried = [u for u in rec["usage"] if u.get("retried_after") == "length"]
    assert retried, "the record must say the call was retried after running out of budget"
    budgets = [b.get("max_completion_tokens") for b in server.bodies("o1")]
    assert budgets[1] >= 2 * budgets[0], budgets


def test_two_tiers_on_two_servers_in_one_graph(online, second_openai_server, monkeypatch, sy):
    first = online
    monkeypatch.setenv("SWITCHYARD_TIERS__EXPERT__BASE_URL", second_openai_server.base_url)
    settings = Settings()
    assert settings.tier_base_url("expert") == second_openai_server.base_url
    app = _switchyard(sy, settings)
    fast = _ask(app, REQUESTS[0][0], force_tier="fast", user_id="u-0001")
    expert = _ask(app, REQUESTS[2][0], force_tier="expert", user_id="u-0001")
    assert fast["error"] is None and expert["error"] is None
    assert first.count("gpt-4o-mini") >= 1 and first.count("o1") == 0
    assert second_openai_server.count("o1") >= 2 and second_openai_server.count("gpt-4o-mini") == 0
