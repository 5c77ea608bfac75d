"""Unit tests for the parent graph's own nodes and state reducers (no models, no index)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from switchyard.graph.nodes import intake, respond
from switchyard.graph.state import RESET, add_per_turn, merge_per_turn

from switchyard.runner import InputError, check_text


def test_per_turn_reducers_append_then_reset():
    assert add_per_turn(["a"], ["b"]) == ["a", "b"]
    assert add_per_turn(["a", "b"], [RESET]) == []
    assert add_per_turn(["a"], [RESET, "c"]) == ["c"]
    assert merge_per_turn({"x": 1}, {"y": 2}) == {"x": 1, "y": 2}
    assert merge_per_turn({"x": 1}, {RESET: True, "z": 3}) == {"z": 3}


async def test_intake_routes_a_valid_request_to_classify_with_history():
    state = {"messages": [HumanMessage("I want to migrate 10K users"), AIMessage("Sure."),
                          HumanMessage("  yes, please do that  ")]}
    cmd = await intake(state)
    assert cmd.goto == "classify"
    assert cmd.update["request"] == "yes, please do that"
    assert cmd.update["history"] == ["I want to migrate 10K users"]
    assert cmd.update["usage"] == [RESET]


@pytest.mark.parametrize("text", ["", "   \n\t  "])
async def test_intake_rejects_empty_input_with_a_clear_error(text):
    cmd = await intake({"messages": [HumanMessage(text)]})
    assert cmd.goto == "respond"
    assert "empty" in cmd.update["error"]


async def test_intake_rejects_huge_input_before_any_model_call():
    cmd = await intake({"messages": [HumanMessage("x" * 100_000)]})
    assert cmd.goto == "respond"
    assert "100,000 characters" in cmd.update["error"]


async def test_intake_without_a_human_message():
    cmd = await intake({"messages": [AIMessage("hello")]})
    assert cmd.goto == "respond" and "No user message" in cmd.update["error"]


def test_respond_totals_cost_and_tokens_and_appends_the_answer():
    usage = [
        {"input_tokens": 100, "output_tokens": 20, "cost_usd": 0.001, "simulated_ms": 5.0},
        {"input_tokens": 50, "output_tokens": 10, "cost_usd": 0.0005, "simulated_ms": 1.0},
    ]
    out = respond({"answer": "done", "agent": "standard", "usage": usage, "started_at": 0.0})
    assert out["cost_usd"] == pytest.approx(0.0015)
    assert out["tokens"] == {"input": 150, "output": 30}
    assert out["messages"][0].content == "done"


def test_respond_prefers_the_error_message():
    out = respond({"error": "Your message is empty.", "answer": "", "usage": []})
    assert out["answer"] == "Your message is empty." and out["cost_usd"] == 0


def test_check_text_rejects_undecodable_bytes_and_nul():
    with pytest.raises(InputError, match="UTF-8"):
        check_text("caf\udce9")  # how Python surfaces a non-UTF-8 argv byte
    with pytest.raises(InputError, match="NUL"):
        check_text("a\x00b")
    assert check_text("héllo") == "héllo"
