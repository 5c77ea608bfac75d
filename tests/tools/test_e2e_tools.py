"""Issue 5: for every tool, an agent calls it from a natural request and uses its result."""

from __future__ import annotations

import pytest
from support.front_door import ask
from support.tool_calls import call_tool

from switchyard.tools import ALL_TOOLS, EXPERT_ONLY_TOOLS

pytestmark = pytest.mark.integration

EXPERT_ONLY = {t.name for t in EXPERT_ONLY_TOOLS}
# (tool, natural request, user): u-0001 is an admin of org 1 (billing tools are admin-only).
CASES = [
    ("verify_identity", "Please verify my identity, my email is dana.reyes@acmelogistics.example", "u-0001"),
    ("reset_password", "I forgot my password, please send me a reset link", "u-0004"),
    ("get_account_summary", "Give me a summary of our account: plan, seats and balance due", "u-0001"),
    ("list_invoices", "List our invoices from the last 3 months", "u-0001"),
    ("get_invoice", "Can you pull up invoice 1001 for me?", "u-0001"),
    ("explain_charge", "Why was I charged so much on invoice 1001? Explain the charge", "u-0001"),
    ("get_subscription", "What subscription are we on and when does it renew?", "u-0001"),
    ("lookup_error_code", "What does error code QS-429 mean?", "u-0001"),
    ("recent_api_errors", "Show me the recent API errors from our logs this week", "u-0001"),
    ("usage_analytics", "Analyze our workflow runs usage analytics over the last 6 months and the trend", "u-0001"),
    ("pricing_calculator", "Calculate the price of the business plan for 40 seats billed annual", "u-0001"),
    ("estimate_migration", "Estimate a migration of 3000 users with 120 GB of data and 4 integrations", "u-0001"),
]


def test_every_tool_has_a_case():
    assert {c[0] for c in CASES} == {t.name for t in ALL_TOOLS}


@pytest.mark.parametrize(("tool", "text", "user"), CASES, ids=[c[0] for c in CASES])
async def test_agent_calls_the_tool_and_uses_its_result(tool, text, user, sy):
    tier = "expert" if tool in EXPERT_ONLY else "standard"
    if tool == "reset_password":
        # Resets are a fixed step of the fast agent, after verification (see agents/fast.py).
        rec = await ask(sy, text, user_id=user, use_cache=False)
        assert rec["agent"] == "fast"
    else:
        rec = await ask(sy, text, user_id=user, force_tier=tier, use_cache=False)
        assert rec["agent"] == tier
    assert tool in rec["tools_used"], rec["tools_used"]
    # The answer relays the tool's own summary line, not a paraphrase of nothing.
    assert f"**{tool}**" in rec["answer"] or "reset link" in rec["answer"]
    assert "ERROR" not in rec["answer"].split("Sources:")[0] or tool == "reset_password"


def test_cross_org_request_is_refused_by_the_tool_even_if_the_text_asks_for_it():
    # org 1's first invoice, asked for by a user of another org.
    out = call_tool("get_invoice", {"invoice_number": 1001}, "u-0100")
    assert out.startswith("ERROR")
