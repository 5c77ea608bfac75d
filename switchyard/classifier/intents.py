"""Intent catalogue for the example support domain: each intent's tier, auth need and tools.

The routing data labels every request with one of these intents; the classifier derives
``requires_auth`` and ``tools_needed`` from the predicted intent (cheaper and more consistent
than predicting them separately). Another domain swaps this table and the labelled data.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Intent:
    complexity: str  # low | medium | high; out_of_scope has no fixed complexity
    requires_auth: bool = False
    tools: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""


OUT_OF_SCOPE = "out_of_scope"

_ERR = ("lookup_error_code", "recent_api_errors")

INTENTS: dict[str, Intent] = {
    # low -> fast
    "password_reset": Intent("low", True, ("verify_identity", "reset_password"), "forgotten or expired password"),
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
    # medium -> standard
    "webhook_debugging": Intent("medium", False, _ERR, "failing webhook deliveries (WH-401, WH-504...)"),
    "api_error_debugging": Intent("medium", False, _ERR, "API errors (QS-429, QS-401...)"),
    "sso_troubleshooting": Intent("medium", False, ("lookup_error_code",), "SAML/SSO failures (SSO-001/002)"),
    "import_error": Intent("medium", False, ("lookup_error_code",), "failed data imports (IMP-422, IMP-507)"),
    "workflow_failure": Intent("medium", False, ("lookup_error_code",), "failing or stuck workflow runs (WF-408)"),
    "integration_setup": Intent("medium", False, (), "connect a third-party app step by step"),
    "charge_explanation": Intent("medium", True, ("explain_charge", "get_invoice"), "explain a charge or invoice line"),
    "plan_change": Intent("medium", True, ("get_subscription",), "upgrade, downgrade, seats, proration"),
    "permissions_roles": Intent("medium", False, (), "design roles and access across teams"),
    "automation_design": Intent("medium", False, (), "how to build a workflow that does X when Y"),
    "feature_recommendation": Intent("medium", False, (), "which feature or add-on fits a use case"),
    # high -> expert
    "migration_planning": Intent(
        "high", True, ("estimate_migration", "pricing_calculator", "get_account_summary"), "plan a large migration"
    ),
    "usage_analysis_strategy": Intent("high", True, ("usage_analytics",), "analyse usage, strategic advice"),
    "architecture_review": Intent("high", False, (), "review or design an integration architecture"),
    "cost_optimization_strategy": Intent(
        "high", True, ("pricing_calculator", "usage_analytics"), "reduce or project spend"
    ),
    "workflow_redesign": Intent("high", True, ("usage_analytics",), "redesign workflows end to end"),
    "compliance_review": Intent("high", False, (), "HIPAA/GDPR/data residency assessment"),
    "enterprise_rollout_design": Intent("high", False, (), "company-wide rollout, governance"),
    # anything unrelated to the product; complexity judged per request, always deflected cheaply
    OUT_OF_SCOPE: Intent("any", False, (), "not about the product"),
}

COMPLEXITIES: tuple[str, ...] = ("low", "medium", "high")
