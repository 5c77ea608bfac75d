"""Every tool through a real ToolNode on the seeded database: happy path, bad argument, and a
cross-organization attempt that is refused (public tools: never return organization data)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from support.bundled_accounts import seed_module
from support.tool_calls import accounts, call_tool, call_tool_message

from switchyard.tools import (
    ALL_TOOLS,
    BASIC_TOOLS,
    PUBLIC_TOOLS,
    TOOLS_BY_NAME,
    ToolAuthError,
    account_snapshot,
    common,
)

DEMO = "u-0001"
AS_OF = seed_module().AS_OF


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    accounts().ensure_seeded()  # the session's SWITCHYARD_HOME, seeded on first use
    conn = sqlite3.connect(f"file:{accounts().path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()


def one(db: sqlite3.Connection, sql: str, *params: object) -> sqlite3.Row:
    row = db.execute(sql, params).fetchone()
    assert row is not None, sql
    return row


@pytest.fixture(scope="module")
def demo_org(db: sqlite3.Connection) -> int:
    return one(db, "SELECT org_id FROM users WHERE id = ?", DEMO)["org_id"]


@pytest.fixture(scope="module")
def other_admin(db: sqlite3.Connection, demo_org: int) -> sqlite3.Row:
    """An active admin of another organization that has invoices and API errors."""
    return one(db, "SELECT u.* FROM users u WHERE u.org_id != ? AND u.role = 'admin' "
                   "AND u.status = 'active' AND EXISTS (SELECT 1 FROM api_errors e "
                   "WHERE e.org_id = u.org_id) ORDER BY u.org_id LIMIT 1", demo_org)


def admins(db: sqlite3.Connection, n: int, offset: int) -> list[str]:
    """Distinct active admins (one per org) so stateful tests never share a user."""
    rows = db.execute("SELECT MIN(id) AS id FROM users WHERE role = 'admin' AND status = 'active' "
                      "AND org_id > 20 GROUP BY org_id ORDER BY org_id LIMIT ? OFFSET ?",
                      (n, offset)).fetchall()
    return [r["id"] for r in rows]


def other_org_invoice(db: sqlite3.Connection, demo_org: int) -> int:
    return one(db, "SELECT number FROM invoices WHERE org_id != ? ORDER BY number LIMIT 1",
               demo_org)["number"]


def demo_last_invoice(db: sqlite3.Connection, demo_org: int) -> sqlite3.Row:
    return one(db, "SELECT * FROM invoices WHERE org_id = ? ORDER BY issued DESC LIMIT 1", demo_org)


SCOPE = "tools act only on the signed-in user's own organization"


# ---- registry ---------------------------------------------------------------------------------


def test_tool_lists_and_hidden_runtime() -> None:
    assert [t.name for t in BASIC_TOOLS] == [
        "verify_identity", "reset_password", "get_account_summary", "list_invoices", "get_invoice",
        "explain_charge", "get_subscription", "lookup_error_code", "recent_api_errors"]
    assert [t.name for t in ALL_TOOLS][9:] == ["usage_analytics", "pricing_calculator",
                                               "estimate_migration"]
    assert set(TOOLS_BY_NAME) == {t.name for t in ALL_TOOLS}
    for t in ALL_TOOLS:
        schema = t.tool_call_schema.model_json_schema()
        assert "runtime" not in schema.get("properties", {}), t.name
        assert len(t.description) > 60, t.name
        for name, prop in schema.get("properties", {}).items():
            assert prop.get("description"), f"{t.name}.{name}"


def test_no_signed_in_user_is_refused_by_every_private_tool() -> None:
    args = {"get_invoice": {"invoice_number": 1001}, "explain_charge": {"invoice_number": 1001},
            "estimate_migration": {"users": 10, "data_gb": 1}}
    for t in ALL_TOOLS:
        if t.name in PUBLIC_TOOLS:
            continue
        for uid in (None, "u-9999999", "nobody'; --"):
            out = call_tool(t.name, args.get(t.name, {}), user_id=uid)
            assert out.startswith("ERROR:"), (t.name, uid, out)


def test_inactive_user_is_refused(db: sqlite3.Connection) -> None:
    uid = one(db, "SELECT id FROM users WHERE status = 'deactivated' LIMIT 1")["id"]
    out = call_tool("get_account_summary", {}, user_id=uid)
    assert out.startswith("ERROR:") and "deactivated" in out


def test_errors_are_tool_messages_with_error_status() -> None:
    msg = call_tool_message("list_invoices", {"months": 0})
    assert msg.status == "error" and msg.content.startswith("ERROR: invalid argument `months`")
    assert "ToolRuntime" not in msg.content


# ---- verify_identity --------------------------------------------------------------------------


def test_verify_identity_happy_paths(db: sqlite3.Connection) -> None:
    uid, uid2 = admins(db, 2, 0)
    email = one(db, "SELECT email FROM users WHERE id = ?", uid)["email"]
    out = call_tool("verify_identity", {"email": email.upper()}, user_id=uid)
    assert out.startswith("Identity verified for") and "valid_until:" in out
    assert email not in out  # masked
    out = call_tool("verify_identity", {}, user_id=uid2)
    assert "authenticated session" in out


def test_verify_identity_bad_argument() -> None:
    out = call_tool("verify_identity", {"email": "not-an-email"})
    assert out == "ERROR: invalid argument `email`: not a valid email address."


def test_verify_identity_with_another_users_email_is_refused(db: sqlite3.Connection,
                                                            other_admin: sqlite3.Row) -> None:
    (uid,) = admins(db, 1, 2)
    out = call_tool("verify_identity", {"email": other_admin["email"]}, user_id=uid)
    assert out.startswith("ERROR: the email given does not match the signed-in account")
    assert other_admin["name"] not in out
    with accounts().connect() as conn:
        n = conn.execute("SELECT COUNT(*) FROM identity_verifications WHERE user_id IN (?, ?)",
                         (uid, other_admin["id"])).fetchone()[0]
    assert n == 0


def test_verification_expires_after_15_minutes(db: sqlite3.Connection,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (uid,) = admins(db, 1, 3)
    t0 = datetime(2030, 1, 1, 12, 0, 0)
    monkeypatch.setattr(common, "utcnow", lambda: t0)
    call_tool("verify_identity", {}, user_id=uid)
    monkeypatch.setattr(common, "utcnow", lambda: t0 + timedelta(minutes=16))
    assert call_tool("reset_password", {}, user_id=uid).startswith("ERROR: verify identity first")


# ---- reset_password ---------------------------------------------------------------------------


def test_reset_before_verification_is_refused(db: sqlite3.Connection) -> None:
    (uid,) = admins(db, 1, 4)
    out = call_tool("reset_password", {}, user_id=uid)
    assert out.startswith("ERROR: verify identity first")
    with accounts().connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM password_resets WHERE user_id = ?",
                            (uid,)).fetchone()[0] == 0


def test_reset_happy_path_is_idempotent_and_never_reveals_the_token(db: sqlite3.Connection) -> None:
    (uid,) = admins(db, 1, 5)
    call_tool("verify_identity", {}, user_id=uid)
    first = call_tool("reset_password", {}, user_id=uid)
    assert first.startswith("A password reset link was sent to") and "30 minutes" in first
    second = call_tool("reset_password", {}, user_id=uid)
    assert second.startswith("A password reset link was already sent")
    with accounts().connect() as conn:
        rows = conn.execute("SELECT * FROM password_resets WHERE user_id = ?", (uid,)).fetchall()
    assert len(rows) == 1
    token_hash = rows[0]["token_sha256"]
    assert token_hash not in first + second
    assert not re.search(r"[A-Za-z0-9_-]{40,}", first + second)


def test_reset_rate_limit_is_enforced(db: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    (uid,) = admins(db, 1, 6)
    t0 = datetime(2030, 2, 1, 9, 0, 0)
    clock = {"now": t0}
    monkeypatch.setattr(common, "utcnow", lambda: clock["now"])
    call_tool("verify_identity", {}, user_id=uid)
    for _ in range(3):
        out = call_tool("reset_password", {}, user_id=uid)
        assert out.startswith("A password reset link was sent"), out
        # The customer uses the link (password changed), so the next request needs a new one.
        with accounts().connect(read_only=False) as conn:
            conn.execute("UPDATE password_resets SET used_at = ? WHERE user_id = ?",
                         (common.iso(clock["now"]), uid))
        clock["now"] += timedelta(minutes=4)
        call_tool("verify_identity", {}, user_id=uid)
    out = call_tool("reset_password", {}, user_id=uid)
    assert out.startswith("ERROR: password reset limit reached (3 per hour)")
    clock["now"] = t0 + timedelta(hours=1, minutes=1)
    call_tool("verify_identity", {}, user_id=uid)
    assert call_tool("reset_password", {}, user_id=uid).startswith("A password reset link was sent")


def test_reset_for_another_address_is_refused(db: sqlite3.Connection,
                                              other_admin: sqlite3.Row) -> None:
    (uid,) = admins(db, 1, 7)
    call_tool("verify_identity", {}, user_id=uid)
    out = call_tool("reset_password", {"email": other_admin["email"]}, user_id=uid)
    assert out.startswith("ERROR: a reset link can only be sent to the signed-in account's own")
    assert call_tool("reset_password", {"user_id": other_admin["id"]}, user_id=uid).startswith(
        f"ERROR: {SCOPE}")
    assert call_tool("reset_password", {"email": "bad"}, user_id=uid).startswith(
        "ERROR: invalid argument `email`")


# ---- account summary, subscription, snapshot --------------------------------------------------


def test_account_summary_happy_path(db: sqlite3.Connection, demo_org: int) -> None:
    out = call_tool("get_account_summary", {})
    last = demo_last_invoice(db, demo_org)
    balance = one(db, "SELECT SUM(total - amount_paid) AS b FROM invoices WHERE org_id = ? "
                      "AND status != 'paid'", demo_org)["b"]
    assert out.splitlines()[0].startswith("Acme Logistics is on the Team plan")
    assert f"balance_due: ${balance:,.2f}" in out
    assert f"#{last['number']}" in out and "next_invoice_date: 2026-12-01" in out


def test_account_summary_bad_argument_and_cross_org(other_admin: sqlite3.Row) -> None:
    out = call_tool("get_account_summary", {"org_id": other_admin["org_id"]})
    assert out.startswith(f"ERROR: {SCOPE}")
    # The other org's admin sees their own organization, never Acme's.
    theirs = call_tool("get_account_summary", {}, user_id=other_admin["id"])
    assert "Acme Logistics" not in theirs and not theirs.startswith("ERROR")


def test_non_admin_sees_no_billing(db: sqlite3.Connection, demo_org: int) -> None:
    uid = one(db, "SELECT id FROM users WHERE org_id = ? AND role != 'admin' AND status = 'active'",
              demo_org)["id"]
    out = call_tool("get_account_summary", {}, user_id=uid)
    assert "balance_due" not in out and "Admins only" in out
    assert call_tool("list_invoices", {}, user_id=uid).startswith("ERROR: billing information is "
                                                                  "visible to workspace Admins only")


def test_get_subscription(other_admin: sqlite3.Row) -> None:
    out = call_tool("get_subscription", {})
    assert out.startswith("Acme Logistics has a monthly Team subscription for 38 seats")
    assert "2026-10-17: Added 4 seats (34 -> 38)" in out
    assert call_tool("get_subscription", {"months": "x", "user_id": "u-0002"}).startswith(
        f"ERROR: {SCOPE}")
    assert call_tool("get_subscription", {"account_id": 5}).startswith(f"ERROR: {SCOPE}")
    assert "Acme" not in call_tool("get_subscription", {}, user_id=other_admin["id"])


def test_account_snapshot(db: sqlite3.Connection, demo_org: int) -> None:
    snap = account_snapshot(accounts(), DEMO)
    last = demo_last_invoice(db, demo_org)
    assert snap["org_name"] == "Acme Logistics" and snap["plan"] == "Team"
    assert snap["balance_due"] > 0 and snap["last_invoice_number"] == last["number"]
    assert snap["last_invoice_status"] == "past_due" and snap["email_masked"].startswith("d***@")
    with pytest.raises(ToolAuthError):
        account_snapshot(accounts(), "u-does-not-exist")


# ---- invoices ---------------------------------------------------------------------------------


def test_list_invoices(db: sqlite3.Connection, demo_org: int) -> None:
    out = call_tool("list_invoices", {"months": 3})
    numbers = [int(n) for n in re.findall(r"^- #(\d+)", out, re.M)]
    assert len(numbers) == 3
    owners = {r[0] for r in db.execute(
        f"SELECT org_id FROM invoices WHERE number IN ({','.join('?' * len(numbers))})", numbers)}
    assert owners == {demo_org}
    for bad in (0, 25, -1, "six"):
        assert call_tool("list_invoices", {"months": bad}).startswith("ERROR: invalid argument `months`")
    assert call_tool("list_invoices", {"org_id": 17}).startswith(f"ERROR: {SCOPE}")
    assert call_tool("list_invoices", {"organization": "Blue Labs"}).startswith(f"ERROR: {SCOPE}")


def test_get_invoice(db: sqlite3.Connection, demo_org: int) -> None:
    last = demo_last_invoice(db, demo_org)
    out = call_tool("get_invoice", {"invoice_number": last["number"]})
    assert out.startswith(f"Invoice #{last['number']} issued {last['issued']}")
    assert "BILL-402" in out and f"total: ${last['total']:,.2f}" in out
    for bad in (-5, 0, "abc", "1 OR 1=1"):
        assert call_tool("get_invoice", {"invoice_number": bad}).startswith(
            "ERROR: invalid argument `invoice_number`")
    assert call_tool("get_invoice", {}).startswith("ERROR: invalid argument `invoice_number`: Field required")


def test_get_invoice_of_another_org_is_refused_like_a_missing_one(db: sqlite3.Connection,
                                                                  demo_org: int) -> None:
    theirs = other_org_invoice(db, demo_org)
    out = call_tool("get_invoice", {"invoice_number": theirs})
    assert out == f"ERROR: invoice {theirs} is not on your organization's account"
    missing = 99_999_999
    assert call_tool("get_invoice", {"invoice_number": missing}) == (
        f"ERROR: invoice {missing} is not on your organization's account")


def test_explain_charge(db: sqlite3.Connection, demo_org: int) -> None:
    last = demo_last_invoice(db, demo_org)
    proration = one(db, "SELECT amount FROM invoice_lines WHERE invoice_number = ? AND kind = "
                        "'proration'", last["number"])["amount"]
    out = call_tool("explain_charge", {"invoice_number": last["number"], "amount": proration})
    assert out.startswith(f"The ${proration:,.2f} on invoice #{last['number']} is the proration line")
    out = call_tool("explain_charge", {"invoice_number": last["number"]})
    assert "change_vs_previous:" in out and "overage" in out
    assert call_tool("explain_charge", {"invoice_number": last["number"], "amount": -3}).startswith(
        "ERROR: invalid argument `amount`")
    theirs = other_org_invoice(db, demo_org)
    assert call_tool("explain_charge", {"invoice_number": theirs, "amount": 10}) == (
        f"ERROR: invoice {theirs} is not on your organization's account")


# ---- error codes ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["WH-401", "wh-401", " wh 401 ", "wh401", "webhook 401",
                                  "401 on webhooks"])
def test_lookup_error_code_variants(text: str) -> None:
    out = call_tool("lookup_error_code", {"error_code": text})
    assert out.startswith("WH-401 means 'Webhook signature mismatch'")
    assert "fix:" in out


def test_lookup_error_code_bad_and_public() -> None:
    assert call_tool("lookup_error_code", {"error_code": "XYZ-999"}).startswith(
        "ERROR: unknown error code 'XYZ-999'")
    assert call_tool("lookup_error_code", {"error_code": ""}).startswith(
        "ERROR: invalid argument `error_code`")
    assert "QS-401" in call_tool("lookup_error_code", {"error_code": "401"})
    # Public: works without a signed-in user and returns the same text for anyone: no org data.
    anon = call_tool("lookup_error_code", {"error_code": "BILL-402"}, user_id=None)
    assert anon == call_tool("lookup_error_code", {"error_code": "BILL-402"})
    assert "Acme" not in anon and "$" not in anon.split("fix:")[0]


def test_recent_api_errors(db: sqlite3.Connection, demo_org: int, other_admin: sqlite3.Row) -> None:
    out = call_tool("recent_api_errors", {"days": 7})
    n = one(db, "SELECT COUNT(*) AS n FROM api_errors WHERE org_id = ? AND error_code = 'WH-401' "
                "AND occurred_at > ?", demo_org, (AS_OF - timedelta(days=7)).isoformat())["n"]
    assert "most frequent: WH-401" in out and f"WH-401 x{n}" in out
    out = call_tool("recent_api_errors", {"days": 30, "error_code": "qs-429"})
    assert "QS-429" in out and "WH-401" not in out
    for bad in ({"days": 0}, {"days": 91}, {"error_code": "nonsense"}):
        assert call_tool("recent_api_errors", bad).startswith("ERROR:"), bad
    assert call_tool("recent_api_errors", {"org_id": other_admin["org_id"]}).startswith(f"ERROR: {SCOPE}")
    # The other org's admin sees only their own log: never Acme's webhook endpoint.
    theirs = call_tool("recent_api_errors", {"days": 90}, user_id=other_admin["id"])
    assert "acmelogistics" not in theirs
    for rid in re.findall(r"request_id=(\S+)", theirs):
        assert one(db, "SELECT org_id FROM api_errors WHERE request_id = ?", rid)["org_id"] == other_admin["org_id"]


# ---- expert tools -----------------------------------------------------------------------------


def test_usage_analytics(other_admin: sqlite3.Row) -> None:
    out = call_tool("usage_analytics", {"months": 6, "metric": "workflow_runs"})
    assert out.startswith("Acme Logistics ran") and "% of the Team quota" in out
    assert "months_over_quota: 2026" in out and "month to date" in out
    assert "active_users" in call_tool("usage_analytics", {"metric": "active_users"})
    assert "api_rate_limit: 300" in call_tool("usage_analytics", {"metric": "api_calls"})
    assert call_tool("usage_analytics", {"metric": "revenue"}).startswith(
        "ERROR: invalid argument `metric`")
    assert call_tool("usage_analytics", {"months": 30}).startswith("ERROR: invalid argument `months`")
    assert call_tool("usage_analytics", {"org_id": 2}).startswith(f"ERROR: {SCOPE}")
    assert "Acme" not in call_tool("usage_analytics", {}, user_id=other_admin["id"])


def test_pricing_calculator() -> None:
    out = call_tool("pricing_calculator", {"plan": "Team", "seats": 40, "billing_cycle": "annual",
                                           "add_ons": ["sso"], "expected_runs": 70_000})
    # 40 x $35 x 0.85 = $1,190 + SSO 40 x $4 = $160 + overage 20 x $2 = $40.
    assert out.startswith("Team for 40 seats billed annual costs $1,390.00 per month ($16,680.00 per year)")
    monthly = call_tool("pricing_calculator", {"plan": "business", "seats": 10})
    assert "$600.00 per month" in monthly and "if_billed_annually: $6,120.00" in monthly
    assert call_tool("pricing_calculator", {"plan": "team", "seats": 400}).startswith(
        "ERROR: the Team plan takes 3-250 seats, not 400; plans that fit 400 seats: Business, Enterprise")
    assert call_tool("pricing_calculator", {"plan": "enterprise", "seats": 20}).startswith(
        "ERROR: the Enterprise plan takes at least 100 seats")
    assert call_tool("pricing_calculator", {"plan": "business", "seats": 20, "add_ons": ["sso"]}
                     ).startswith("ERROR: the sso add-on is available on Team only")
    assert call_tool("pricing_calculator", {"plan": "gold", "seats": 5}).startswith(
        "ERROR: invalid argument `plan`")
    assert call_tool("pricing_calculator", {"plan": "team", "seats": 5,
                                            "billing_cycle": "weekly"}).startswith(
        "ERROR: invalid argument `billing_cycle`")
    # Public and org-independent.
    anon = call_tool("pricing_calculator", {"plan": "team", "seats": 5}, user_id=None)
    assert anon == call_tool("pricing_calculator", {"plan": "team", "seats": 5})
    assert "Acme" not in anon


def test_estimate_migration(other_admin: sqlite3.Row) -> None:
    out = call_tool("estimate_migration", {"users": 1200, "data_gb": 130, "integrations": 3,
                                           "source_system": "Zapier"})
    # $3,000 + 200 x $1.50 + 80 GB x $20 + 3 x $250 = $5,650; 1 day CSV + ceil(130/40) = 4 days.
    assert "recommended Business, one-time cost $5,650.00, about 5 working day(s)" in out
    scim = call_tool("estimate_migration", {"users": 40, "data_gb": 10, "needs_scim": True})
    assert "recommended Enterprise" in scim and "minimum of 100 seats" in scim
    sso = call_tool("estimate_migration", {"users": 40, "data_gb": 10, "needs_sso": True})
    assert "recommended Team" in sso and "sso add-on" in sso
    assert call_tool("estimate_migration", {"users": 0, "data_gb": 5}).startswith(
        "ERROR: invalid argument `users`")
    assert call_tool("estimate_migration", {"users": 5, "data_gb": -1}).startswith(
        "ERROR: invalid argument `data_gb`")
    assert call_tool("estimate_migration", {"users": 5, "data_gb": 1, "user_id": other_admin["id"]}
                     ).startswith(f"ERROR: {SCOPE}")
    assert call_tool("estimate_migration", {"users": 5, "data_gb": 1}, user_id=None).startswith("ERROR:")


# ---- injection --------------------------------------------------------------------------------


def test_sql_injection_looking_arguments_are_harmless(db: sqlite3.Connection) -> None:
    before = one(db, "SELECT COUNT(*) AS n FROM users")["n"]
    attempts = [
        ("get_invoice", {"invoice_number": "1001; DROP TABLE invoices"}),
        ("explain_charge", {"invoice_number": "1001 OR 1=1"}),
        ("verify_identity", {"email": "x@y.co' OR '1'='1"}),
        ("recent_api_errors", {"error_code": "WH-401' OR '1'='1"}),
        ("usage_analytics", {"metric": "workflow_runs) FROM usage_daily; --"}),
        ("estimate_migration", {"users": 5, "data_gb": 1, "source_system": "x'); DROP TABLE users;--"}),
        ("pricing_calculator", {"plan": "team' --", "seats": 5}),
    ]
    for name, args in attempts:
        out = call_tool(name, args)
        assert out.startswith("ERROR:") or "Acme" in out, (name, out)
    # The one that parses (a code inside junk text) is still scoped to the caller's org.
    assert "acmelogistics" in call_tool("recent_api_errors", {"error_code": "WH-401' OR '1'='1"})
    assert call_tool("get_account_summary", {}, user_id="u-0001' OR '1'='1").startswith("ERROR:")
    assert one(db, "SELECT COUNT(*) AS n FROM users")["n"] == before
    assert one(db, "SELECT COUNT(*) AS n FROM invoices")["n"] > 0
