"""The offline model: real tool calls, grounded cited answers, usage, honesty, latency simulation."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool

from switchyard.agents.prompts import FAST_SYSTEM, render_passages
from switchyard.core.settings import TierModel
from switchyard.llm.accounting import call_cost_usd, totals, usage_record
from switchyard.llm.offline import OfflineChatModel, extract_argument, parse_passages


@tool
def get_invoice(invoice_number: int) -> str:
    """Get one invoice of your organization by its number: amount, status and line items."""
    return "Invoice 1042: $1,260.00, paid"


@tool
def lookup_error_code(error_code: str) -> str:
    """Look up a Quillstack error code such as WH-401 or QS-429: meaning, cause and fix."""
    return "WH-401: webhook signature mismatch"


@tool
def estimate_migration(users: int, data_gb: float | None = None) -> str:
    """Estimate a migration to Quillstack from user count and data volume: plan, cost, timeline."""
    return "estimate"


def _lexical_similarity(question: str, docs):
    q = set(question.lower().split())
    return np.array([len(q & set(d.lower().replace(":", " ").split())) / 10 for d in docs])


def model(**kw) -> OfflineChatModel:
    return OfflineChatModel(tier="standard", stands_in_for="gpt-4.1", similarity=_lexical_similarity, **kw)


PASSAGES = [
    {"title": "Reset your password", "url": "https://help.example/articles/password-reset",
     "text": "Click Forgot password on the sign-in page. The reset link is valid for 30 minutes. "
             "You can request at most 3 reset links per hour."},
    {"title": "Invoices", "url": "https://help.example/articles/invoices",
     "text": "Invoices are issued on the 1st of each month with net 15 payment terms."},
]


def test_bind_tools_emits_real_tool_calls_with_extracted_arguments():
    bound = model().bind_tools([get_invoice, lookup_error_code, estimate_migration])
    msg = bound.invoke([HumanMessage("Can you send me invoice #1042 please?")])
    assert msg.tool_calls and msg.tool_calls[0]["name"] == "get_invoice"
    assert msg.tool_calls[0]["args"] == {"invoice_number": 1042}


def test_tool_with_unfillable_required_argument_is_not_called():
    bound = model().bind_tools([get_invoice])
    msg = bound.invoke([HumanMessage("show me the invoice")])
    assert msg.tool_calls == []


def test_answers_after_tool_results_instead_of_calling_again():
    bound = model().bind_tools([get_invoice])
    call = {"name": "get_invoice", "args": {"invoice_number": 1042}, "id": "c1", "type": "tool_call"}
    msgs = [HumanMessage("send me invoice 1042"), AIMessage(content="", tool_calls=[call]),
            ToolMessage("Invoice 1042 totals $1,260.00 and is paid.", tool_call_id="c1", name="get_invoice")]
    out = bound.invoke(msgs)
    assert not out.tool_calls
    assert "$1,260.00" in out.content and "get_invoice" in out.content


def test_grounded_answer_cites_the_passage_it_uses_and_names_itself():
    system = FAST_SYSTEM + "\n\n" + render_passages(PASSAGES)
    out = model().invoke([SystemMessage(system), HumanMessage("how long is the password reset link valid?")])
    assert "30 minutes" in out.content
    assert "[1]" in out.content and "password-reset" in out.content
    assert "offline model standing in for gpt-4.1" in out.content
    assert out.response_metadata["offline"] is True
    assert out.response_metadata["model_name"] == "offline:gpt-4.1"


def test_usage_metadata_feeds_cost_accounting():
    out = model(reasoning_tokens=100).invoke([HumanMessage("hello there, what can you do?")])
    usage = out.usage_metadata
    assert usage["input_tokens"] > 0 and usage["output_tokens"] >= 100
    prices = TierModel(model="m", input_per_m=2.0, output_per_m=8.0, ttft_ms=0, tokens_per_s=10, max_tokens=10)
    rec = usage_record("standard.answer", "standard", prices, out)
    assert rec["cost_usd"] == pytest.approx(call_cost_usd(usage["input_tokens"], usage["output_tokens"], prices))
    assert rec["reasoning_tokens"] == 100
    assert totals([rec, rec])["cost_usd"] == pytest.approx(2 * rec["cost_usd"], rel=1e-6)


def test_simulated_latency_follows_the_profile():
    m = model(simulate_latency=True, ttft_ms=120, tokens_per_s=1000)
    start = time.perf_counter()
    out = asyncio.run(m.ainvoke([HumanMessage("hi")]))
    elapsed = (time.perf_counter() - start) * 1000
    simulated = out.response_metadata["simulated_latency_ms"]
    assert simulated >= 120
    assert elapsed >= simulated * 0.9


def test_no_context_means_it_says_it_cannot_answer_rather_than_inventing():
    out = model().invoke([SystemMessage(FAST_SYSTEM), HumanMessage("what is the capital of the moon?")])
    assert "couldn't find" in out.content


@pytest.mark.parametrize(
    ("name", "schema", "text", "expected"),
    [
        ("invoice_number", {"type": "integer"}, "why is invoice no. 1043 so high", 1043),
        ("error_code", {"type": "string"}, "webhook deliveries fail with 401", "WH-401"),
        ("error_code", {"type": "string"}, "getting qs-429 from the API", "QS-429"),
        ("users", {"type": "integer"}, "migrate 10K users", 10000),
        ("data_gb", {"type": "number"}, "about 2 TB of data", 2000.0),
        ("months", {"type": "integer"}, "usage over the last 6 months", 6),
        ("months", {"type": "integer"}, "and for last month?", 1),
        ("email", {"type": "string"}, "my email is Ana.Lee@acme.io", "Ana.Lee@acme.io"),
    ],
)
def test_argument_extraction(name, schema, text, expected):
    assert extract_argument(name, schema, text) == expected


def test_passage_rendering_round_trips():
    parsed = parse_passages(render_passages(PASSAGES))
    assert [p["title"] for p in parsed] == ["Reset your password", "Invoices"]
    assert parsed[1]["url"].endswith("/invoices")


def test_word_matching_drops_clitics_and_function_words():
    """"What's" is "what" (a stop word), not a rare stem "what'" that matches any other
    "what's"; "can't" is "can"; quantifiers and pronouns carry no topic."""
    from switchyard.llm.offline import best_units, content_words, word_stems

    assert content_words("What's my account balance?") == ["account", "balance"]
    assert content_words("I can't sign in, they've locked it") == ["sign", "locked"]
    assert word_stems("How much do I owe? Don't know") == {"owe"}
    passages = [{"n": "1", "title": "Plans", "url": "u",
                 "text": "Plans\nWhat's included: SSO and audit logs.\nYour balance is on the "
                         "Billing page."}]
    picked = [unit.text for _, unit in best_units("What's my balance?", passages, limit=3)]
    assert picked == ["Your balance is on the Billing page."]
