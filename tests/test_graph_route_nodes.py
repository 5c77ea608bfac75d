"""Unit tests for classify, cache_lookup and cache_store, called directly with a runtime.

They use the real classifier and a real cache in the test home, but no agents or models.
"""

from __future__ import annotations

import pytest
from langgraph.runtime import Runtime
from switchyard.graph.context import Context
from switchyard.graph.nodes import _FLIGHTS, cache_lookup, cache_store, classify

from switchyard.runner import ensure_ready

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def ready():
    ensure_ready()


def rt(**kw) -> Runtime[Context]:
    return Runtime(context=Context(**kw))


async def test_classify_routes_and_times_and_costs_nothing_locally():
    out = await classify({"request": "I forgot my password", "history": []}, rt())
    assert out["route"] == "fast"
    assert out["classification"]["complexity"] == "low"
    assert out["classification"]["intent"] == "password_reset"
    assert "usage" not in out, "the local classifier costs $0: no usage line"
    assert out["timings"]["classify"] > 0


async def test_classify_honours_force_tier_but_keeps_the_judgement():
    out = await classify({"request": "I forgot my password", "history": []}, rt(force_tier="expert"))
    assert out["route"] == "expert" and out["classification"]["forced_tier"] == "expert"
    assert out["classification"]["complexity"] == "low"


async def _classified(text: str, user: str = "u-0011") -> dict:
    state = {"request": text, "history": []}
    state.update(await classify(state, rt(user_id=user)))
    return state


async def test_cache_lookup_skips_high_complexity_without_touching_the_cache():
    state = await _classified("I want to migrate 10K users from our old system to yours. What's the best approach?")
    cmd = await cache_lookup(state, rt(user_id="u-0011"))
    assert cmd.goto == "expert"
    assert cmd.update["cache"]["cacheable"] is False
    assert cmd.update["cache"]["reason"] == "skipped: high complexity never cached"


async def test_lookup_miss_takes_a_flight_and_store_releases_it_then_hit():
    text = "How do I schedule a workflow to run every Monday morning?"
    state = await _classified(text)
    miss = await cache_lookup(state, rt(user_id="u-0011"))
    assert miss.goto == state["route"] == "fast"
    verdict = miss.update["cache"]
    assert verdict["hit"] is False and verdict["flight_id"] in _FLIGHTS

    done = {**state, "cache": verdict, "answer": "Use a Schedule trigger [1].", "agent": "fast",
            "model": "offline:gpt-4o-mini", "sources": [], "tools_used": [], "outcome": {}}
    stored = await cache_store(done)
    assert stored["cache"]["stored"] is True and verdict["flight_id"] not in _FLIGHTS

    hit = await cache_lookup(state, rt(user_id="u-0011"))
    assert hit.goto == "respond"
    assert hit.update["cache"]["hit"] is True and hit.update["answer"] == "Use a Schedule trigger [1]."


async def test_store_refuses_answers_whose_tools_failed():
    text = "How do I change the name of my workspace in settings?"
    state = await _classified(text)
    miss = await cache_lookup(state, rt(user_id="u-0012"))
    done = {**state, "cache": miss.update["cache"], "answer": "ERROR: tool failed", "agent": "fast",
            "model": "m", "sources": [], "tools_used": [], "outcome": {"tool_failed": True}}
    stored = await cache_store(done)
    assert stored["cache"]["stored"] is False
    assert "tool failed" in stored["cache"]["store_reason"]
    again = await cache_lookup(state, rt(user_id="u-0012"))
    assert again.update["cache"]["hit"] is False
    await cache_store({**done, "cache": again.update["cache"]})  # release


async def test_use_cache_false_skips_lookup():
    state = await _classified("How do I add a step to a workflow?")
    cmd = await cache_lookup(state, rt(use_cache=False))
    assert cmd.update["cache"]["reason"] == "cache disabled for this request"
