"""The whole graph on real ChatOpenAI models (the factory's) against the local OpenAI contract
server: every tier's requests are accepted, tool messages pair up, and successive
``runner.run`` calls (each its own ``asyncio.run``) work (issue 13 items 2, 4, 7)."""

from __future__ import annotations

import pytest

from switchyard import runner
from switchyard.settings import get_settings

pytestmark = pytest.mark.integration

REQUESTS = [
    ("What's my account balance?", "fast"),
    ("Help me debug this system error: webhook deliveries fail with 401", "standard"),
    ("I want to migrate 10K users from our old system to yours. What's the best approach?", "expert"),
]


@pytest.fixture
def online_graph(openai_server, monkeypatch):
    runner.ensure_ready()  # offline settings: builds the database, index and classifier
    monkeypatch.setenv("SWITCHYARD_OFFLINE", "false")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    get_settings.cache_clear()
    assert not get_settings().use_offline_model
    yield openai_server
    get_settings.cache_clear()


def _graph():
    """A graph on the configured (online) settings, built here so no earlier test's process
    default can stand in for it."""
    from switchyard.graph import build_graph
    from switchyard.graph.dependencies import build_dependencies

    return build_graph(build_dependencies(get_settings())).compile()


def test_successive_runs_through_every_tier_on_real_models(online_graph):
    server = online_graph
    # The standard and expert agents are each asked to call a tool once.
    call = [{"name": "lookup_error_code", "arguments": {"error_code": "401"}}]
    server.script("gpt-4.1", tool_calls=[call])
    server.script("o1", tool_calls=[call])
    graph = _graph()
    records = [runner.run(text, use_cache=False, force_tier=tier, graph=graph)
               for text, tier in REQUESTS]
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
        again = runner.run(REQUESTS[i % 3][0], use_cache=False, force_tier="fast", graph=graph)
        assert again["error"] is None and again["answer"], (i, again["error"])


def test_an_expert_answer_that_exhausts_its_budget_is_retried_and_never_empty(online_graph):
    server = online_graph
    # The first o1 call spends its whole budget on hidden reasoning: no text, finish=length.
    server.script("o1", fail=["length"])
    rec = runner.run(REQUESTS[2][0], use_cache=False, force_tier="expert", user_id="u-0001",
                     graph=_graph())
    assert rec["error"] is None and rec["agent"] == "expert" and rec["answer"].strip()
    retried = [u for u in rec["usage"] if u.get("retried_after") == "length"]
    assert retried, "the record must say the call was retried after running out of budget"
    budgets = [b.get("max_completion_tokens") for b in server.bodies("o1")]
    assert budgets[1] >= 2 * budgets[0], budgets


def test_two_tiers_on_two_servers_in_one_graph(online_graph, second_openai_server, monkeypatch):
    first = online_graph
    from switchyard.graph import build_graph
    from switchyard.graph.dependencies import build_dependencies

    monkeypatch.setenv("SWITCHYARD_TIERS__EXPERT__BASE_URL", second_openai_server.base_url)
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.tier_base_url("expert") == second_openai_server.base_url
    graph = build_graph(build_dependencies(settings)).compile()
    fast = runner.run(REQUESTS[0][0], use_cache=False, force_tier="fast", user_id="u-0001",
                      graph=graph)
    expert = runner.run(REQUESTS[2][0], use_cache=False, force_tier="expert", user_id="u-0001",
                        graph=graph)
    assert fast["error"] is None and expert["error"] is None
    assert first.count("gpt-4o-mini") >= 1 and first.count("o1") == 0
    assert second_openai_server.count("o1") >= 2 and second_openai_server.count("gpt-4o-mini") == 0
