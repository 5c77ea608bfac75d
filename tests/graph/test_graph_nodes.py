"""Unit tests for the parent graph's own nodes and state reducers (no models, no index)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.runtime import Runtime

from switchyard.core.context import Context
from switchyard.graph.nodes import check_request
from switchyard.graph.state import RESET, add_per_turn, merge_per_turn

RT = Runtime(context=Context())


def test_per_turn_reducers_append_then_reset():
    assert add_per_turn(["a"], ["b"]) == ["a", "b"]
    assert add_per_turn(["a", "b"], [RESET]) == []
    assert add_per_turn(["a"], [RESET, "c"]) == ["c"]
    assert merge_per_turn({"x": 1}, {"y": 2}) == {"x": 1, "y": 2}
    assert merge_per_turn({"x": 1}, {RESET: True, "z": 3}) == {"z": 3}


async def test_intake_routes_a_valid_request_to_classify_with_history(nodes):
    state = {"messages": [HumanMessage("I want to migrate 10K users"), AIMessage("Sure."),
                          HumanMessage("  yes, please do that  ")]}
    cmd = await nodes.intake(state, RT)
    assert cmd.goto == "classify"
    assert cmd.update["request"] == "yes, please do that"
    assert cmd.update["history"] == ["I want to migrate 10K users"]
    assert cmd.update["usage"] == [RESET]
    # The agents see the earlier turns, the assistant's answers included.
    assert [m.content for m in cmd.update["conversation"]] == ["I want to migrate 10K users", "Sure."]


@pytest.mark.parametrize("text", ["", "   \n\t  "])
async def test_intake_rejects_empty_input_with_a_clear_error(nodes, text):
    cmd = await nodes.intake({"messages": [HumanMessage(text)]}, RT)
    assert cmd.goto == "respond"
    assert "empty" in cmd.update["error"]


async def test_intake_rejects_huge_input_before_any_model_call(nodes):
    cmd = await nodes.intake({"messages": [HumanMessage("x" * 100_000)]}, RT)
    assert cmd.goto == "respond"
    assert "100,000 characters" in cmd.update["error"]


async def test_intake_takes_text_parts_and_refuses_parts_that_are_not_text(nodes):
    parts = HumanMessage(content=[{"type": "text", "text": "I forgot"},
                                  {"type": "text", "text": "my password"}])
    cmd = await nodes.intake({"messages": [parts]}, RT)
    assert cmd.goto == "classify" and cmd.update["request"] == "I forgot my password"
    # A client's {"type": "text", "text": 5} crashed intake (TypeError from the join).
    for bad in (5, None, ["x"]):
        msg = HumanMessage(content=[{"type": "text", "text": "hi"}, {"type": "text", "text": bad}])
        cmd = await nodes.intake({"messages": [msg]}, RT)
        assert cmd.goto == "respond" and cmd.update["error"] == "The message must be text."
    # In an earlier turn, such a part is skipped: the question still goes through.
    earlier = HumanMessage(content=[{"type": "text", "text": 5}, {"type": "text", "text": "hi"}])
    cmd = await nodes.intake({"messages": [earlier, AIMessage("Hello."),
                                           HumanMessage("I forgot my password")]}, RT)
    assert cmd.goto == "classify" and cmd.update["history"] == ["hi"]


async def test_intake_without_a_human_message(nodes):
    cmd = await nodes.intake({"messages": [AIMessage("hello")]}, RT)
    assert cmd.goto == "respond" and "No user message" in cmd.update["error"]


async def test_intake_refuses_unknown_and_empty_users_before_any_work(nodes):
    unknown = await nodes.intake({"messages": [HumanMessage("What's my balance?")]},
                                 Runtime(context=Context(user_id="u-9999999")))
    assert unknown.goto == "respond" and "Unknown user" in unknown.update["error"]
    empty = await nodes.intake({"messages": [HumanMessage("What's my balance?")]},
                               Runtime(context=Context(user_id="")))
    assert empty.goto == "respond" and "empty" in empty.update["error"]


async def test_respond_totals_cost_and_tokens_and_appends_the_answer(nodes):
    usage = [
        {"input_tokens": 100, "output_tokens": 20, "cost_usd": 0.001, "simulated_ms": 5.0},
        {"input_tokens": 50, "output_tokens": 10, "cost_usd": 0.0005, "simulated_ms": 1.0},
    ]
    out = await nodes.respond({"answer": "done", "agent": "standard", "usage": usage,
                               "started_at": 0.0})
    assert out["cost_usd"] == pytest.approx(0.0015)
    assert out["tokens"] == {"input": 150, "output": 30}
    assert out["messages"][0].content == "done"


async def test_respond_prefers_the_error_message(nodes):
    out = await nodes.respond({"error": "Your message is empty.", "answer": "", "usage": []})
    assert out["answer"] == "Your message is empty." and out["cost_usd"] == 0


def test_check_request_rejects_undecodable_bytes_nul_and_non_text():
    assert "UTF-8" in check_request("caf\udce9", 100)  # how Python surfaces a non-UTF-8 argv byte
    assert "NUL" in check_request("a\x00b", 100)
    assert "text" in check_request(b"bytes", 100)
    assert check_request("héllo", 100) is None
