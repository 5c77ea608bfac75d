"""Invoices: list, show one, and explain a charge. Admin-only, caller's organization only."""

import itertools
import sqlite3

from langgraph.prebuilt import ToolRuntime
from pydantic import Field

from quillstack_tools.seed import AS_OF, add_months
from switchyard.tools.auth import Caller, authorize_invoice, require_admin, resolve_caller
from switchyard.tools.common import ToolArgs, money, render, support_tool
from switchyard.tools.database import CustomerDatabase

_MAX_INVOICE = 2_147_483_647


class ListInvoicesArgs(ToolArgs):
    months: int = Field(6, ge=1, le=24, description="How many months back to list (1-24).")


class InvoiceArgs(ToolArgs):
    invoice_number: int = Field(..., gt=0, le=_MAX_INVOICE,
                                description="The invoice number, e.g. 5256 (digits only).")


class ExplainChargeArgs(InvoiceArgs):
    amount: float | None = Field(
        None, gt=0, le=10_000_000,
        description="The amount in USD the customer asks about, if any (e.g. 67.74).",
    )


def _lines(conn: sqlite3.Connection, number: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT kind, description, quantity, unit_price, amount FROM invoice_lines "
        "WHERE invoice_number = ? ORDER BY id", (number,),
    ).fetchall()


def _admins_invoice(conn: sqlite3.Connection, runtime: ToolRuntime, invoice_number: int
                    ) -> tuple[Caller, sqlite3.Row, list[sqlite3.Row]]:
    """The signed-in caller, one of their organization's invoices and its lines: the checks
    every invoice tool makes, in one place (signed in, an Admin, the invoice is theirs)."""
    caller = resolve_caller(runtime, conn)
    require_admin(caller)
    return caller, authorize_invoice(conn, caller, invoice_number), _lines(conn, invoice_number)


def _status(inv: sqlite3.Row) -> str:
    due = inv["total"] - inv["amount_paid"]
    label = {"paid": "paid", "open": "open", "past_due": "past due"}[inv["status"]]
    return label if inv["status"] == "paid" else f"{label}, {money(due)} outstanding"


@support_tool(ListInvoicesArgs)
def list_invoices(months: int = 6, *, runtime: ToolRuntime, accounts: CustomerDatabase) -> str:
    """List the signed-in customer's invoices for the last `months` months (default 6): number,
    issue date, total and payment status, plus the balance due. Admins only."""
    since = add_months(AS_OF.replace(day=1), -(months - 1)).isoformat()
    with accounts.connect() as conn:
        caller = resolve_caller(runtime, conn)
        require_admin(caller)
        rows = conn.execute(
            "SELECT * FROM invoices WHERE org_id = ? AND issued >= ? ORDER BY issued DESC, number DESC",
            (caller.org_id, since),
        ).fetchall()
    if not rows:
        return render(f"{caller.org_name} has no invoices in the last {months} month(s).",
                      [("since", since)])
    balance = round(sum(r["total"] - r["amount_paid"] for r in rows if r["status"] != "paid"), 2)
    total = round(sum(r["total"] for r in rows), 2)
    return render(
        f"{caller.org_name} has {len(rows)} invoice(s) since {since} totalling {money(total)}; "
        f"{money(balance)} of it is unpaid.",
        [("invoices", len(rows)), ("unpaid_balance_in_period", money(balance))],
        [f"#{r['number']} issued {r['issued']} due {r['due']}: {money(r['total'])} ({_status(r)})"
         for r in rows],
    )


@support_tool(InvoiceArgs)
def get_invoice(invoice_number: int, *, runtime: ToolRuntime,
                accounts: CustomerDatabase) -> str:
    """Show one invoice of the signed-in customer's organization by `invoice_number`: dates,
    line items, tax, total, payment attempts and status. Admins only."""
    with accounts.connect() as conn:
        _, inv, lines = _admins_invoice(conn, runtime, invoice_number)
        pays = conn.execute(
            "SELECT attempted_at, amount, method, status, error_code FROM payments "
            "WHERE invoice_number = ? ORDER BY attempted_at", (invoice_number,),
        ).fetchall()
    rows = [f"{ln['description']}: {money(ln['amount'])}" for ln in lines]
    rows += [f"payment {p['attempted_at'][:16].replace('T', ' ')} {p['method']} "
             f"{money(p['amount'])}: {p['status']}" + (f" ({p['error_code']})" if p["error_code"] else "")
             for p in pays]
    fields = [("issued", inv["issued"]), ("due", inv["due"]),
              ("period", f"{inv['period_start']} to {inv['period_end']}"),
              ("subtotal", money(inv["subtotal"])), ("tax", money(inv["tax"])),
              ("total", money(inv["total"])), ("amount_paid", money(inv["amount_paid"])),
              ("status", _status(inv))]
    if any(p["error_code"] == "BILL-402" for p in pays) and inv["status"] != "paid":
        fields.append(("action", "BILL-402 payment failed: update the card under Billing > "
                                 "Payment methods; the invoice is retried within 24 hours"))
    return render(f"Invoice #{invoice_number} issued {inv['issued']} for {money(inv['total'])} "
                  f"is {_status(inv)}.", fields, rows)


@support_tool(ExplainChargeArgs)
def explain_charge(invoice_number: int, amount: float | None = None, *,
                   runtime: ToolRuntime, accounts: CustomerDatabase) -> str:
    """Explain a charge on one of the signed-in customer's invoices: break the invoice into line
    items (seats, prorations, overage, add-ons, tax), say which line explains `amount` if given,
    and what changed since the previous invoice. For 'why was I charged X', 'why is my bill
    higher'. Admins only."""
    with accounts.connect() as conn:
        caller, inv, lines = _admins_invoice(conn, runtime, invoice_number)
        prev = conn.execute(
            "SELECT number, total FROM invoices WHERE org_id = ? AND issued < ? "
            "ORDER BY issued DESC, number DESC LIMIT 1", (caller.org_id, inv["issued"]),
        ).fetchone()
        prev_lines = _lines(conn, prev["number"]) if prev else []

    breakdown = [f"{ln['kind']}: {ln['description']}: {money(ln['amount'])}" for ln in lines]
    fields: list[tuple[str, object]] = [("total", money(inv["total"])),
                                        ("subtotal", money(inv["subtotal"])),
                                        ("tax", money(inv["tax"]))]
    if prev:
        delta = round(inv["total"] - prev["total"], 2)
        by_kind = {}
        for kind in ("seats", "proration", "overage", "addon", "tax"):
            now_k = sum(ln["amount"] for ln in lines if ln["kind"] == kind)
            was_k = sum(ln["amount"] for ln in prev_lines if ln["kind"] == kind)
            if abs(now_k - was_k) >= 0.01:
                by_kind[kind] = round(now_k - was_k, 2)
        fields.append(("change_vs_previous", f"{'+' if delta >= 0 else ''}{money(delta)} vs "
                       f"invoice #{prev['number']} ({money(prev['total'])})"))
        if by_kind:
            fields.append(("change_by_line", ", ".join(
                f"{k} {'+' if v >= 0 else ''}{money(v)}" for k, v in by_kind.items())))

    if amount is None:
        top = max(lines, key=lambda ln: ln["amount"])
        summary = (f"Invoice #{invoice_number} totals {money(inv['total'])}: "
                   + ", ".join(f"{ln['kind']} {money(ln['amount'])}" for ln in lines) + ".")
        fields.append(("largest_line", top["description"]))
        return render(summary, fields, breakdown)

    summary = _match_amount(invoice_number, amount, inv, lines, prev)
    return render(summary, [("amount_asked", money(amount)), *fields], breakdown)


def _match_amount(number: int, amount: float, inv: sqlite3.Row, lines: list[sqlite3.Row],
                  prev: sqlite3.Row | None) -> str:
    """Which line (or total, change, or combination of lines) equals the amount asked about."""
    def near(x: float) -> bool:
        return abs(x - amount) < 0.01

    for ln in lines:
        if near(ln["amount"]):
            return (f"The {money(amount)} on invoice #{number} is the {ln['kind']} line: "
                    f"{ln['description']}.")
    if near(inv["total"]):
        return f"{money(amount)} is the total of invoice #{number} (subtotal plus tax)."
    if near(inv["subtotal"]):
        return f"{money(amount)} is the subtotal of invoice #{number}, before tax."
    if prev and near(abs(inv["total"] - prev["total"])):
        return (f"{money(amount)} is the difference between invoice #{number} and the previous "
                f"invoice #{prev['number']}; see change_by_line for what moved.")
    for size in (2, 3):
        for combo in itertools.combinations(lines, size):
            if near(sum(ln["amount"] for ln in combo)):
                return (f"The {money(amount)} on invoice #{number} is the sum of: "
                        + "; ".join(f"{ln['description']} ({money(ln['amount'])})" for ln in combo)
                        + ".")
    return (f"No line on invoice #{number} equals {money(amount)}; the invoice totals "
            f"{money(inv['total'])} and its lines are listed below.")

