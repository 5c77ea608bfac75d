"""End-to-end: the real graph, FAISS index, SQLite database, classifier and cache, offline model.

One test per tier asserts the route, the tools called and the cost accounting; then the cache's
cross-request and cross-user behaviour.
"""

from __future__ import annotations

import functools

import pytest
from support.front_door import ask

pytestmark = pytest.mark.integration


@pytest.fixture
def arun(sy):
    return functools.partial(ask, sy)


def _check_accounting(record: dict, settings) -> None:
    usage = record["usage"]
    assert usage, "a cache miss must record at least one model call"
    assert record["cost_usd"] == pytest.approx(sum(u["cost_usd"] for u in usage), abs=1e-9)
    assert record["tokens"]["input"] == sum(u["input_tokens"] for u in usage)
    for u in usage:
        prices = settings.tier(u["tier"])
        expected = (u["input_tokens"] * prices.input_per_m + u["output_tokens"] * prices.output_per_m) / 1e6
        assert u["cost_usd"] == pytest.approx(expected, rel=1e-6)
    assert record["latency_ms"] > 0
    assert {"intake", "classify", "cache_lookup", "cache_store"} <= set(record["timings_ms"])


async def test_fast_tier_password_reset_runs_fixed_steps_then_hits_the_cache(arun, settings):
    first = await arun("I forgot my password", user_id="u-0003")
    assert first["agent"] == "fast" and first["complexity"] == "low"
    assert first["cache_hit"] is False
    assert first["tools_used"] == ["verify_identity", "reset_password"]
    assert [u["step"] for u in first["usage"]] == ["fast.answer"]
    assert first["sources"], "the fast agent answers from retrieved passages"
    _check_accounting(first, settings)

    second = await arun("I forgot my password", user_id="u-0003")
    assert second["cache_hit"] is True and second["cost_usd"] == 0
    assert second["answer"] == first["answer"]
    assert second["cache"]["match"] == "exact"


async def test_standard_tier_debugging_calls_a_tool_and_uses_its_result(arun, settings):
    rec = await arun("Help me debug this system error: webhook deliveries fail with 401")
    assert rec["agent"] == "standard" and rec["complexity"] == "medium"
    assert rec["tools_used"], "the standard agent must call a tool for a debugging question"
    assert set(rec["tools_used"]) <= {"lookup_error_code", "recent_api_errors"}
    steps = [u["step"] for u in rec["usage"]]
    assert steps[0] == "standard.agent_0" and len(steps) >= 2
    assert any(name in rec["answer"] for name in rec["tools_used"])
    assert rec["model"].endswith("gpt-4.1")
    _check_accounting(rec, settings)


async def test_expert_tier_plans_uses_tools_reflects_and_is_never_cached(arun, settings):
    text = "I want to migrate 10K users from our old system to yours. What's the best approach?"
    rec = await arun(text, user_id="u-0001")
    assert rec["agent"] == "expert" and rec["complexity"] == "high"
    assert "estimate_migration" in rec["tools_used"]
    steps = [u["step"] for u in rec["usage"]]
    assert steps[0] == "expert.plan" and steps[-2:] == ["expert.reflect", "expert.synthesize"]
    assert rec["cache"]["cacheable"] is False
    _check_accounting(rec, settings)
    again = await arun(text, user_id="u-0001")
    assert again["cache_hit"] is False and again["cost_usd"] > 0


async def test_personal_answers_never_cross_users(arun):
    a = await arun("What's my account balance?", user_id="u-0001")
    b = await arun("What's my account balance?", user_id="u-0002")
    assert a["agent"] == b["agent"] == "fast"
    assert b["cache_hit"] is False, "another user's cached balance must never be served"
    assert a["cache"]["partition"] != b["cache"]["partition"]
    again = await arun("what's my account balance", user_id="u-0001")
    assert again["cache_hit"] is True and again["answer"] == a["answer"]


async def test_account_fact_paraphrases_hit_by_intent_key_in_the_users_partition(arun):
    """ "How much do I owe?" is served the answer to "What's my balance?" by its intent key
    (cosine alone is far below the threshold); nobody else, and no other question, gets it."""
    first = await arun("What's my balance?", user_id="u-0003")
    assert first["intent"] == "account_balance" and first["cache"]["keyed"] is True
    assert first["cache"]["stored"] is True and first["cache_hit"] is False
    owe = await arun("How much do I owe?", user_id="u-0003")
    assert owe["cache_hit"] is True and owe["cache"]["match"] == "key"
    assert owe["answer"] == first["answer"] and owe["cost_usd"] == 0
    # Another user: their own partition has no key entry.
    other = await arun("How much do I owe?", user_id="u-0004")
    assert other["cache_hit"] is False and other["cost_usd"] > 0
    # Questions about the balance that are not the balance itself, or another period, miss.
    for text in ("How do I pay my balance?", "What was my balance last month?"):
        rec = await arun(text, user_id="u-0003")
        assert rec["cache"]["match"] != "key" and rec["answer"] != first["answer"], text


async def test_out_of_scope_is_deflected_cheaply(arun):
    rec = await arun("write me a poem about autumn leaves")
    assert rec["in_scope"] is False
    assert rec["agent"] == "fast" and rec["tools_used"] == []
    assert "outside" in rec["answer"]


async def test_bad_input_gets_a_clear_error_and_costs_nothing(arun):
    rec = await arun("   ")
    assert rec["error"] and "empty" in rec["error"]
    assert rec["cost_usd"] == 0 and rec["usage"] == []


async def test_follow_up_is_answered_in_context_and_never_cached(sy, arun):
    from langgraph.checkpoint.memory import InMemorySaver

    threaded = sy.compile(checkpointer=InMemorySaver())
    first = await arun("Help me debug this system error: webhook deliveries fail with 401",
                       thread_id="t-follow", graph=threaded, user_id="u-0001")
    follow = await arun("and how do I fix it?", thread_id="t-follow", graph=threaded,
                        user_id="u-0001")
    assert first["agent"] == follow["agent"] == "standard"
    assert follow["classification"]["follow_up"] is True
    assert follow["cache"]["reason"] == "skipped: follow-up depends on the conversation"
    # Retrieval and the answer use the conversation, not "and how do I fix it?" alone.
    assert "signing secret" in follow["answer"] or "WH-401" in follow["answer"]
    assert "couldn't find" not in follow["answer"]


async def test_an_inactive_user_is_told_why_instead_of_a_failed_request(arun):
    rec = await arun("What's my account balance?", user_id="u-0012")  # an invited, not yet active user
    assert rec["agent"] == "fast" and not rec["error"]
    assert "invited" in rec["answer"]
