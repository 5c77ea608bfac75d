"""Account summary, subscription, and the read-only snapshot the fast agent retrieves."""

import sqlite3
from typing import Annotated, Any

from langchain_core.tools import InjectedToolArg
from langgraph.prebuilt import ToolRuntime

from quillstack_tools.seed import AS_OF, add_months
from switchyard.tools.auth import Caller, load_caller, resolve_caller
from switchyard.tools.common import ToolArgs, mask_email, money, render, support_tool
from switchyard.tools.database import CustomerDatabase


class NoArgs(ToolArgs):
    """No model-supplied arguments: the tool always reads the signed-in user's organization."""

    # LangChain skips validation (and injection) for schemas without fields, so the injected
    # runtime is declared here; it is hidden from the model's tool schema.
    runtime: Annotated[Any, InjectedToolArg] = None


def _facts(conn: sqlite3.Connection, caller: Caller, product: dict[str, Any]) -> dict[str, Any]:
    """Everything the summary and the snapshot show, from one set of queries."""
    sub = conn.execute("SELECT * FROM subscriptions WHERE org_id = ?", (caller.org_id,)).fetchone()
    used = conn.execute(
        "SELECT COUNT(*) FROM users WHERE org_id = ? AND status IN ('active', 'locked')",
        (caller.org_id,),
    ).fetchone()[0]
    balance, unpaid = conn.execute(
        "SELECT COALESCE(SUM(total - amount_paid), 0), COUNT(*) FROM invoices "
        "WHERE org_id = ? AND status != 'paid'",
        (caller.org_id,),
    ).fetchone()
    last = conn.execute(
        "SELECT number, issued, due, total, status FROM invoices WHERE org_id = ? "
        "ORDER BY issued DESC, number DESC LIMIT 1",
        (caller.org_id,),
    ).fetchone()
    plan = product["plans"][sub["plan"]]
    return {
        "sub": sub, "plan_name": plan["name"], "seats_used": used, "seats": sub["seats"],
        "plan_max_seats": plan["max_seats"], "balance": round(balance, 2), "unpaid": unpaid,
        "last": last, "next_invoice": add_months(AS_OF.replace(day=1), 1).isoformat(),
    }


@support_tool(NoArgs)
def get_account_summary(*, runtime: ToolRuntime, accounts: CustomerDatabase) -> str:
    """Summarize the signed-in customer's account: organization, plan, seats used of the
    limit, balance due, last invoice (number, amount, status) and the next invoice date.
    Use for 'what's my balance', 'how much do I owe', 'what plan am I on', 'how many seats'."""
    with accounts.connect() as conn:
        caller = resolve_caller(runtime, conn)
        f = _facts(conn, caller, accounts.product)
    last = f["last"]
    fields: list[tuple[str, Any]] = [
        ("organization", caller.org_name), ("plan", f["plan_name"]),
        ("billing_cycle", f["sub"]["billing_cycle"]),
        ("seats", f"{f['seats_used']} used of {f['seats']} purchased"
                  + (f" (plan maximum {f['plan_max_seats']})" if f["plan_max_seats"] else "")),
    ]
    if caller.is_admin:
        fields += [
            ("balance_due", money(f["balance"])
             + (f" across {f['unpaid']} unpaid invoice(s)" if f["unpaid"] else "")),
            ("last_invoice", f"#{last['number']} issued {last['issued']}, {money(last['total'])}, "
                             f"{last['status'].replace('_', ' ')}" if last else "none"),
        ]
        summary = (f"{caller.org_name} is on the {f['plan_name']} plan with "
                   f"{f['seats_used']}/{f['seats']} seats in use; balance due {money(f['balance'])}.")
    else:
        fields.append(("billing", "balance and invoices are visible to workspace Admins only"))
        summary = (f"{caller.org_name} is on the {f['plan_name']} plan with "
                   f"{f['seats_used']}/{f['seats']} seats in use.")
    fields += [("next_invoice_date", f["next_invoice"]), ("data_as_of", AS_OF.isoformat())]
    if caller.is_admin and f["balance"] > 0:
        fields.append(("action", "update the payment method under Billing > Payment methods; "
                                 "failed invoices are retried automatically within 24 hours"))
    return render(summary, fields)


@support_tool(NoArgs)
def get_subscription(*, runtime: ToolRuntime, accounts: CustomerDatabase) -> str:
    """Show the signed-in customer's subscription: plan, seats, billing cycle (monthly or
    annual), renewal date, add-ons and the history of plan and seat changes."""
    with accounts.connect() as conn:
        caller = resolve_caller(runtime, conn)
        sub = conn.execute("SELECT * FROM subscriptions WHERE org_id = ?",
                           (caller.org_id,)).fetchone()
        history = conn.execute(
            "SELECT changed_on, note FROM plan_changes WHERE org_id = ? ORDER BY changed_on DESC, id DESC",
            (caller.org_id,),
        ).fetchall()
    product = accounts.product
    plan = product["plans"][sub["plan"]]
    addons = [product["addons"][a]["name"] for a in sub["addons"].split(",") if a]
    price = plan["price_per_user_month"]
    return render(
        f"{caller.org_name} has a {sub['billing_cycle']} {plan['name']} subscription for "
        f"{sub['seats']} seats, renewing on {sub['renews_on']}.",
        [("plan", f"{plan['name']} ({money(price)} per user per month"
                  + (f", {product['annual_discount_pct']}% off billed annually)"
                     if sub["billing_cycle"] == "annual" else ")")),
         ("seats", sub["seats"]), ("billing_cycle", sub["billing_cycle"]),
         ("current_period_start", sub["current_period_start"]), ("renews_on", sub["renews_on"]),
         ("customer_since", sub["started"]),
         ("workflow_runs_included", f"{plan['workflow_runs_included']:,} per month"),
         ("add_ons", ", ".join(addons) or "none"),
         ("plan_changes", len(history) or "none")],
        [f"{h['changed_on']}: {h['note']}" for h in history[:10]],
    )


def account_snapshot(accounts: CustomerDatabase, user_id: str, *,
                     include_name: bool = False) -> dict[str, Any]:
    """Read-only facts about the signed-in user's own account, for the fast agent's retrieval
    (no tool loop). Raises ``ToolAuthError`` for unknown or inactive users. Billing fields are
    ``None`` for non-admins, matching what the tools show them.

    Never the user id, and the user's name only when they asked for it: whatever the snapshot
    holds can end up in the answer, and answers are cached, checkpointed and traced."""
    with accounts.connect() as conn:
        caller = load_caller(conn, user_id)
        f = _facts(conn, caller, accounts.product)
    admin = caller.is_admin
    last = f["last"] if admin else None
    return {
        "name": caller.name if include_name else None, "email_masked": mask_email(caller.email),
        "role": caller.role, "org_name": caller.org_name, "plan": f["plan_name"],
        "billing_cycle": f["sub"]["billing_cycle"], "seats_used": f["seats_used"],
        "seats": f["seats"], "balance_due": f["balance"] if admin else None,
        "last_invoice_number": last["number"] if last else None,
        "last_invoice_amount": last["total"] if last else None,
        "last_invoice_status": last["status"] if last else None,
        "last_invoice_date": last["issued"] if last else None,
        "next_invoice_date": f["next_invoice"], "renews_on": f["sub"]["renews_on"],
        "data_as_of": AS_OF.isoformat(),
        # Say why billing fields are missing, so the answer explains instead of going silent.
        "billing_note": None if admin else (
            f"balance and invoices are visible to workspace Admins only; ask an Admin of "
            f"{caller.org_name} or have them grant you the Admin role"),
    }
