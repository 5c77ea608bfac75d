"""The domain catalogue: tiers, intents and tools, each fact stated once.

Everything else is derived from here: which intents are personal (their answers may come from the
signed-in customer's account) or strategic (never cached), which fixed action steps an intent runs,
which tools each tier binds for a request, and which tools read no account data (so an answer
built only from them and the help center may be shared). Another domain swaps this module and the
labelled routing data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Tier(StrEnum):
    """The three agent tiers, cheapest first."""

    FAST = "fast"
    STANDARD = "standard"
    EXPERT = "expert"


TIERS: tuple[Tier, ...] = (Tier.FAST, Tier.STANDARD, Tier.EXPERT)
COMPLEXITIES: tuple[str, ...] = ("low", "medium", "high")
TIER_FOR_COMPLEXITY: dict[str, Tier] = {"low": Tier.FAST, "medium": Tier.STANDARD, "high": Tier.EXPERT}
COMPLEXITY_FOR_TIER: dict[str, str] = {t.value: c for c, t in TIER_FOR_COMPLEXITY.items()}
# Which tier answers when a tier's provider fails: the nearest one, the more capable first.
FALLBACKS: dict[Tier, tuple[Tier, ...]] = {
    Tier.FAST: (Tier.STANDARD, Tier.EXPERT),
    Tier.STANDARD: (Tier.EXPERT, Tier.FAST),
    Tier.EXPERT: (Tier.STANDARD, Tier.FAST),
}


@dataclass(frozen=True)
class ToolInfo:
    """What the graph must know about a tool besides its schema."""

    reads_account: bool  # reads the caller's organization or user: its output is private
    expert_only: bool = False
    # Offered to every signed-in user whatever the intent (it acts only on the caller).
    self_service: bool = False


# Every support tool (their code is in ``switchyard/tools``). ``reads_account=False`` means the
# output is the same for every caller: the error-code reference and the public price sheet.
TOOLS: dict[str, ToolInfo] = {
    "verify_identity": ToolInfo(reads_account=True, self_service=True),
    "reset_password": ToolInfo(reads_account=True),
    "get_account_summary": ToolInfo(reads_account=True),
    "list_invoices": ToolInfo(reads_account=True),
    "get_invoice": ToolInfo(reads_account=True),
    "explain_charge": ToolInfo(reads_account=True),
    "get_subscription": ToolInfo(reads_account=True),
    "lookup_error_code": ToolInfo(reads_account=False),
    "recent_api_errors": ToolInfo(reads_account=True),
    "usage_analytics": ToolInfo(reads_account=True, expert_only=True),
    "pricing_calculator": ToolInfo(reads_account=False, expert_only=True),
    "estimate_migration": ToolInfo(reads_account=True, expert_only=True),
}
PUBLIC_TOOLS: frozenset[str] = frozenset(n for n, t in TOOLS.items() if not t.reads_account)


@dataclass(frozen=True)
class Intent:
    """One kind of request.

    ``personal``: the answer may need the signed-in customer's account (a user is required and the
    request's tools may read the organization). ``strategic``: a recommendation that depends on
    the asker's situation; never cached. ``fixed_actions``: tool steps the fast tier runs in order
    with no model choosing them. ``tools``: what the request may need beyond the public tools.
    """

    complexity: str  # low | medium | high; out_of_scope has no fixed complexity ("any")
    personal: bool = False
    tools: tuple[str, ...] = ()
    description: str = ""
    strategic: bool = False
    fixed_actions: tuple[tuple[str, dict[str, Any]], ...] = field(default_factory=tuple)

    @property
    def requires_auth(self) -> bool:
        return self.personal


OUT_OF_SCOPE = "out_of_scope"
_ERR = ("lookup_error_code", "recent_api_errors")

INTENTS: dict[str, Intent] = {
    # low -> fast
    "password_reset": Intent("low", True, ("verify_identity", "reset_password"),
                             "forgotten or expired password",
                             fixed_actions=(("verify_identity", {}), ("reset_password", {}))),
    "login_help": Intent("low", False, (), "cannot sign in, locked account (AUTH-423), sessions"),
    "account_balance": Intent("low", True, ("get_account_summary",), "what the account owes or has in credit"),
    "invoice_lookup": Intent("low", True, ("list_invoices", "get_invoice"), "find, resend or download invoices"),
    "plan_info": Intent("low", True, ("get_subscription",), "current plan, seats, renewal date"),
    "payment_method_update": Intent("low", True, (), "change card or payment method, BILL-402"),
    "billing_faq": Intent("low", False, (), "billing dates, terms (net 15), accepted payment methods"),
    "feature_howto": Intent("low", False, (), "how to use a product feature"),
    "mfa_setup": Intent("low", False, (), "two-factor authentication setup"),
    "user_invite_basic": Intent("low", False, (), "invite or remove a user, change a role"),
    "status_check": Intent("low", False, (), "is the service down, incidents, status page"),
    "account_settings": Intent("low", False, (), "profile, email, timezone, workspace name"),
    "pricing_question": Intent("low", False, (), "list prices of plans and add-ons"),
    "refund_policy": Intent("low", False, (), "refund rules and refund requests"),
    "api_key_howto": Intent("low", False, (), "create, rotate or revoke API keys"),
    "greeting": Intent("low", False, (), "hello, thanks, goodbye"),
    # medium -> standard. The two debugging intents read the organization's error log, so they
    # need a signed-in user; whether an answer is shareable is decided from what the run used.
    "webhook_debugging": Intent("medium", True, _ERR, "failing webhook deliveries (WH-401, WH-504...)"),
    "api_error_debugging": Intent("medium", True, _ERR, "API errors (QS-429, QS-401...)"),
    "sso_troubleshooting": Intent("medium", False, ("lookup_error_code",), "SAML/SSO failures (SSO-001/002)"),
    "import_error": Intent("medium", False, ("lookup_error_code",), "failed data imports (IMP-422, IMP-507)"),
    "workflow_failure": Intent("medium", False, ("lookup_error_code",), "failing or stuck workflow runs (WF-408)"),
    "integration_setup": Intent("medium", False, (), "connect a third-party app step by step"),
    "charge_explanation": Intent("medium", True, ("explain_charge", "get_invoice"), "explain a charge or invoice line"),
    "plan_change": Intent("medium", True, ("get_subscription",), "upgrade, downgrade, seats, proration"),
    "permissions_roles": Intent("medium", False, (), "design roles and access across teams"),
    "automation_design": Intent("medium", False, (), "how to build a workflow that does X when Y"),
    "feature_recommendation": Intent("medium", False, (), "which feature or add-on fits a use case",
                                     strategic=True),
    # high -> expert
    "migration_planning": Intent(
        "high", True, ("estimate_migration", "pricing_calculator", "get_account_summary"), "plan a large migration"
    ),
    "usage_analysis_strategy": Intent("high", True, ("usage_analytics",), "analyse usage, strategic advice",
                                      strategic=True),
    "architecture_review": Intent("high", False, (), "review or design an integration architecture",
                                  strategic=True),
    "cost_optimization_strategy": Intent(
        "high", True, ("pricing_calculator", "usage_analytics"), "reduce or project spend", strategic=True
    ),
    "workflow_redesign": Intent("high", True, ("usage_analytics",), "redesign workflows end to end"),
    "compliance_review": Intent("high", False, (), "HIPAA/GDPR/data residency assessment"),
    "enterprise_rollout_design": Intent("high", False, (), "company-wide rollout, governance"),
    # anything unrelated to the product; complexity judged per request, always deflected cheaply
    OUT_OF_SCOPE: Intent("any", False, (), "not about the product"),
}

for _name, _intent in INTENTS.items():  # the catalogue must name only real tools
    _unknown = set(_intent.tools) - TOOLS.keys()
    if _unknown:  # pragma: no cover - a programming error caught at import
        raise ValueError(f"intent {_name!r} names unknown tools {sorted(_unknown)}")


def intent(name: str | None) -> Intent | None:
    return INTENTS.get(name or "")


def is_personal_intent(name: str | None) -> bool:
    found = intent(name)
    return bool(found and found.personal)


def is_strategic_intent(name: str | None) -> bool:
    found = intent(name)
    return bool(found and found.strategic)


def fixed_actions(name: str | None) -> tuple[tuple[str, dict[str, Any]], ...]:
    found = intent(name)
    return found.fixed_actions if found else ()


def tier_tool_names(tier: str) -> list[str]:
    """Every tool a tier may ever bind (the fast tier calls none; its fixed actions are steps)."""
    if tier == Tier.FAST:
        return []
    return [n for n, info in TOOLS.items() if tier == Tier.EXPERT or not info.expert_only]


def tools_for(tier: str, intent_name: str | None, *, signed_in: bool = True) -> list[str]:
    """Tool names a tier binds for one request: the intent's own tools plus the public ones.

    The expert may also use its expert-only tools when the intent asks for them. A signed-in user
    also gets the self-service tools (verifying their own identity). A request with no signed-in
    user gets only public tools; an unknown intent gets no account tools beyond self-service, so
    a misclassified request can never reach account data it was not expected to need.
    """
    wanted = set(PUBLIC_TOOLS)
    found = intent(intent_name)
    if signed_in:
        wanted |= {n for n, info in TOOLS.items() if info.self_service}
        if found is not None:
            wanted |= set(found.tools)
    return [n for n in tier_tool_names(tier) if n in wanted]


def reads_account(tool_names: list[str] | tuple[str, ...] | set[str]) -> bool:
    """True if any of these tools read account data (unknown names count as private)."""
    return any(TOOLS.get(n, ToolInfo(reads_account=True)).reads_account for n in tool_names)
