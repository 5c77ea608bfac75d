"""Unit tests for classify, cache_lookup and cache_store, called directly with a runtime.

They use the real classifier and a real cache in the test home, but no agents or models.
"""

from __future__ import annotations

import pytest
from langgraph.runtime import Runtime

from switchyard.core.context import Context

pytestmark = pytest.mark.integration


def rt(**kw) -> Runtime[Context]:
    return Runtime(context=Context(**kw))


async def test_classify_routes_and_times_and_costs_nothing_locally(nodes):
    out = await nodes.classify({"request": "I forgot my password", "history": []}, rt())
    assert out["route"] == "fast"
    assert out["classification"].complexity == "low"
    assert out["classification"].intent == "password_reset"
    assert "usage" not in out, "the local classifier costs $0: no usage line"
    assert out["timings"]["classify"] > 0


async def test_classify_honours_force_tier_but_keeps_the_judgement(nodes):
    out = await nodes.classify({"request": "I forgot my password", "history": []},
                               rt(force_tier="expert"))
    assert out["route"] == "expert" and out["classification"].forced_tier == "expert"
    assert out["classification"].complexity == "low"


async def _classified(nodes, text: str, user: str = "u-0011") -> dict:
    state = {"request": text, "history": []}
    state.update(await nodes.classify(state, rt(user_id=user)))
    return state


async def test_cache_lookup_skips_high_complexity_without_touching_the_cache(nodes):
    state = await _classified(
        nodes, "I want to migrate 10K users from our old system to yours. What's the best approach?")
    cmd = await nodes.cache_lookup(state, rt(user_id="u-0011"))
    assert cmd.goto == "expert"
    assert cmd.update["cache"]["cacheable"] is False
    assert cmd.update["cache"]["reason"] == "skipped: high complexity never cached"
    assert "flight" not in cmd.update


async def test_lookup_miss_takes_a_flight_and_store_releases_it_then_hit(nodes, deps):
    text = "How do I schedule a workflow to run every Monday morning?"
    state = await _classified(nodes, text)
    miss = await nodes.cache_lookup(state, rt(user_id="u-0011"))
    assert miss.goto == state["route"] == "fast"
    verdict, flight = miss.update["cache"], miss.update["flight"]
    assert verdict["hit"] is False and set(flight) == {"key", "token"}
    assert deps.cache._flights.in_flight() >= 1

    done = {**state, "cache": verdict, "flight": flight, "answer": "Use a Schedule trigger [1].",
            "agent": "fast", "model": "offline:gpt-4o-mini", "sources": [], "tools_used": [],
            "outcome": {}, "provenance": {"account_data": False, "tools": [],
                                            "inputs": ["request", "passages"]}}
    stored = await nodes.cache_store(done, rt(user_id="u-0011"))
    assert stored["cache"]["stored"] is True and stored["flight"] is None
    assert "shared partition" in stored["cache"]["store_reason"]
    # Released: the key can be led again at once.
    again = await deps.cache.acquire_flight(text, _public(deps, state))
    assert again.leader
    deps.cache.release_flight(again.key, again.token, False)

    hit = await nodes.cache_lookup(state, rt(user_id="u-0042"))
    assert hit.goto == "respond"
    assert hit.update["cache"]["hit"] is True and hit.update["answer"] == "Use a Schedule trigger [1]."


def _public(deps, state):
    from switchyard.agents.prompts import PROMPT_VERSION
    from switchyard.cache import Partition
    from switchyard.tools import toolset_version

    return Partition.for_request(tenant="default", user_id=None, personal=False, tier=state["route"],
                                 prompt_version=PROMPT_VERSION, toolset_version=toolset_version(),
                                 kb_version=deps.retriever.kb_version)


async def test_an_answer_built_from_account_data_is_never_shared(nodes):
    text = "How many seats does a workspace have on the Team plan?"
    state = await _classified(nodes, text, user="u-0021")
    miss = await nodes.cache_lookup(state, rt(user_id="u-0021"))
    done = {**state, "cache": miss.update["cache"], "flight": miss.update["flight"],
            "answer": "Acme has 12 of 15 seats.", "agent": state["route"], "model": "m",
            "sources": [], "tools_used": ["get_account_summary"], "outcome": {},
            "provenance": {"account_data": True, "tools": ["get_account_summary"]}}
    stored = await nodes.cache_store(done, rt(user_id="u-0021"))
    assert stored["cache"]["stored"] is True
    assert "user's own partition" in stored["cache"]["store_reason"]
    other = await nodes.cache_lookup(state, rt(user_id="u-0550"))
    assert other.update["cache"]["hit"] is False, "another user must never get this answer"
    await nodes.cache_store({**done, "cache": other.update["cache"], "flight": other.update["flight"],
                             "outcome": {"tool_failed": True}}, rt(user_id="u-0550"))  # release
    same = await nodes.cache_lookup(state, rt(user_id="u-0021"))
    assert same.update["cache"]["hit"] is True


async def test_store_refuses_answers_whose_tools_failed(nodes):
    text = "How do I change the name of my workspace in settings?"
    state = await _classified(nodes, text)
    miss = await nodes.cache_lookup(state, rt(user_id="u-0012"))
    done = {**state, "cache": miss.update["cache"], "flight": miss.update["flight"],
            "answer": "ERROR: tool failed", "agent": "fast", "model": "m", "sources": [],
            "tools_used": [], "outcome": {"tool_failed": True}}
    stored = await nodes.cache_store(done, rt(user_id="u-0012"))
    assert stored["cache"]["stored"] is False
    assert "tool failed" in stored["cache"]["store_reason"]
    again = await nodes.cache_lookup(state, rt(user_id="u-0012"))
    assert again.update["cache"]["hit"] is False
    await nodes.cache_store({**done, "cache": again.update["cache"],
                             "flight": again.update["flight"]}, rt(user_id="u-0012"))


async def test_use_cache_false_skips_lookup(nodes):
    state = await _classified(nodes, "How do I add a step to a workflow?")
    cmd = await nodes.cache_lookup(state, rt(use_cache=False))
    assert cmd.update["cache"]["reason"] == "cache disabled for this request"
