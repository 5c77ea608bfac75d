"""Who is calling, and what they may touch.

The caller is never an argument: it is the signed-in user in LangGraph's runtime context
(``ToolRuntime.context.user_id``, injected by ``ToolNode`` and hidden from the model). Every
data access is scoped to that user's organization, and records that belong elsewhere are
reported exactly like records that do not exist, so probing reveals nothing.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from switchyard.tools import common
from switchyard.tools.common import ToolError

VERIFICATION_MINUTES = 15
# Users in these states can still be helped (a locked user needs the password reset).
_ALLOWED_STATUSES = ("active", "locked")


class ToolAuthError(ToolError):
    """The caller is unknown, inactive, unverified or not allowed to see the record."""


@dataclass(frozen=True)
class Caller:
    user_id: str
    org_id: int
    email: str
    name: str
    role: str
    status: str
    org_name: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def user_id_from_runtime(runtime: Any) -> str | None:
    """``runtime.context`` may be the ``Context`` dataclass, a dict (Studio/API) or missing."""
    ctx = getattr(runtime, "context", None)
    if ctx is None:
        return None
    uid = ctx.get("user_id") if isinstance(ctx, dict) else getattr(ctx, "user_id", None)
    return uid.strip() if isinstance(uid, str) and uid.strip() else None


def load_caller(conn: sqlite3.Connection, user_id: str | None) -> Caller:
    if not user_id:
        raise ToolAuthError("no signed-in user; sign in to the support widget and try again")
    row = conn.execute(
        "SELECT u.id, u.org_id, u.email, u.name, u.role, u.status, o.name AS org_name "
        "FROM users u JOIN organizations o ON o.id = u.org_id WHERE u.id = ?",
        (user_id,),
    ).fetchone()
    if row is None:
        raise ToolAuthError("the signed-in user is not a known account")
    if row["status"] not in _ALLOWED_STATUSES:
        raise ToolAuthError(f"the signed-in account is {row['status']}; an Admin of the "
                            "workspace must reactivate it first")
    return Caller(row["id"], row["org_id"], row["email"], row["name"], row["role"],
                  row["status"], row["org_name"])


def resolve_caller(runtime: Any, conn: sqlite3.Connection) -> Caller:
    """The signed-in caller (user row + org) or ``ToolAuthError``."""
    return load_caller(conn, user_id_from_runtime(runtime))


def require_admin(caller: Caller, what: str = "billing information") -> None:
    # Billing is visible to workspace Admins only, as in the product's Billing page.
    if not caller.is_admin:
        raise ToolAuthError(f"{what} is visible to workspace Admins only; your role is "
                            f"{caller.role}. Ask an Admin of {caller.org_name}.")


def authorize_invoice(conn: sqlite3.Connection, caller: Caller, invoice_number: int) -> sqlite3.Row:
    """The invoice if it is on the caller's organization; same refusal whether it belongs to
    another organization or does not exist."""
    row = conn.execute(
        "SELECT * FROM invoices WHERE number = ? AND org_id = ?", (invoice_number, caller.org_id)
    ).fetchone()
    if row is None:
        raise ToolAuthError(f"invoice {invoice_number} is not on your organization's account")
    return row


def valid_verification(conn: sqlite3.Connection, caller: Caller,
                       now: datetime | None = None) -> sqlite3.Row | None:
    now = now or common.utcnow()
    return conn.execute(
        "SELECT * FROM identity_verifications WHERE user_id = ? AND expires_at > ? "
        "ORDER BY expires_at DESC LIMIT 1",
        (caller.user_id, common.iso(now)),
    ).fetchone()


def record_verification(conn: sqlite3.Connection, caller: Caller, method: str,
                        now: datetime | None = None) -> datetime:
    now = now or common.utcnow()
    expires = now + timedelta(minutes=VERIFICATION_MINUTES)
    conn.execute(
        "INSERT INTO identity_verifications (user_id, method, verified_at, expires_at) "
        "VALUES (?, ?, ?, ?)",
        (caller.user_id, method, common.iso(now), common.iso(expires)),
    )
    return expires
