"""Identity verification and password reset for the signed-in user."""

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from langgraph.prebuilt import ToolRuntime
from pydantic import Field, field_validator

from switchyard.tools import common
from switchyard.tools.auth import (
    ToolAuthError,
    record_verification,
    resolve_caller,
    valid_verification,
)
from switchyard.tools.common import ToolArgs, ToolError, hhmm, mask_email, render, support_tool
from switchyard.tools.database import CustomerDatabase

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")


def _check_email(v: str | None) -> str | None:
    if v is None or v == "":
        return None
    if not _EMAIL.match(v):
        raise ValueError("not a valid email address")
    return v.lower()


class VerifyIdentityArgs(ToolArgs):
    email: str | None = Field(
        None, max_length=254,
        description="The account email the customer stated, to confirm it matches the signed-in "
                    "account. Omit to verify by the authenticated support-widget session.",
    )

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return _check_email(v)


class ResetPasswordArgs(ToolArgs):
    # The link always goes to the signed-in account's own email; an address is accepted only
    # so that a request naming someone else's can be refused rather than silently ignored.
    email: str | None = Field(
        None, max_length=254,
        description="Optional. Leave empty: the link is always sent to the signed-in account's "
                    "own email; any other address is refused.",
    )

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return _check_email(v)


@support_tool(VerifyIdentityArgs)
def verify_identity(email: str | None = None, *, runtime: ToolRuntime,
                    accounts: CustomerDatabase) -> str:
    """Verify the identity of the signed-in customer before a sensitive action such as a
    password reset. With `email`, it must match the account's email; without it, the
    authenticated support session is used. A verification stays valid for 15 minutes."""
    now = common.utcnow()
    with accounts.connect(read_only=False) as conn:
        caller = resolve_caller(runtime, conn)
        if email is not None and email != caller.email.lower():
            # Never say whether the stated email belongs to some other account.
            raise ToolAuthError("the email given does not match the signed-in account; "
                                "identity not verified")
        method = "email_match" if email else "session"
        expires = record_verification(conn, caller, method, now)
    return render(
        f"Identity verified for {mask_email(caller.email)} until {hhmm(expires)}.",
        [("method", "stated email matches the account" if email else "authenticated session"),
         ("valid_until", hhmm(expires)), ("organization", caller.org_name)],
    )


@support_tool(ResetPasswordArgs)
def reset_password(email: str | None = None, *, runtime: ToolRuntime,
                   accounts: CustomerDatabase) -> str:
    """Send a password reset link to the signed-in customer's own account email (for
    'forgot password', 'locked out', 'can't log in'). Requires verify_identity first; limited
    per hour; if a recent link is still valid it is reported instead of sending another."""
    security = accounts.product["security"]
    link_minutes = int(security["password_reset_link_minutes"])
    max_per_hour = int(security["password_reset_max_per_hour"])
    now = common.utcnow()
    with accounts.connect(read_only=False) as conn:
        # One writer at a time, so two concurrent requests cannot both pass the rate limit.
        conn.execute("BEGIN IMMEDIATE")
        caller = resolve_caller(runtime, conn)
        if email is not None and email != caller.email.lower():
            raise ToolAuthError("a reset link can only be sent to the signed-in account's own "
                                "email; the address given is not that account's")
        if valid_verification(conn, caller, now) is None:
            raise ToolAuthError("verify identity first: call verify_identity for the signed-in "
                                "user, then retry the password reset")
        pending = conn.execute(
            "SELECT requested_at, expires_at FROM password_resets WHERE user_id = ? "
            "AND used_at IS NULL AND expires_at > ? ORDER BY requested_at DESC LIMIT 1",
            (caller.user_id, common.iso(now)),
        ).fetchone()
        if pending is not None:
            return render(
                f"A password reset link was already sent to {mask_email(caller.email)}; it is "
                f"still valid until {hhmm(_dt(pending['expires_at']))}, so no new link was sent.",
                [("sent_at", hhmm(_dt(pending["requested_at"]))),
                 ("valid_until", hhmm(_dt(pending["expires_at"]))),
                 ("tip", "check spam/junk folders for the email from Quillstack")],
            )
        recent = conn.execute(
            "SELECT requested_at FROM password_resets WHERE user_id = ? AND requested_at > ? "
            "ORDER BY requested_at",
            (caller.user_id, common.iso(now - timedelta(hours=1))),
        ).fetchall()
        if len(recent) >= max_per_hour:
            retry_at = _dt(recent[0]["requested_at"]) + timedelta(hours=1)
            raise ToolError(f"password reset limit reached ({max_per_hour} per hour); the next "
                            f"link can be requested after {hhmm(retry_at)}")
        token = secrets.token_urlsafe(32)
        expires = now + timedelta(minutes=link_minutes)
        conn.execute(
            "INSERT INTO password_resets (user_id, requested_at, expires_at, token_sha256, sent_to) "
            "VALUES (?, ?, ?, ?, ?)",
            (caller.user_id, common.iso(now), common.iso(expires),
             hashlib.sha256(token.encode()).hexdigest(), caller.email),
        )
    fields = [("sent_to", mask_email(caller.email)), ("valid_until", hhmm(expires)),
              ("link_valid_minutes", link_minutes),
              ("resets_left_this_hour", max_per_hour - len(recent) - 1)]
    if caller.status == "locked":
        fields.append(("note", "the account is locked after failed sign-ins; signing in with "
                               "the new password unlocks it"))
    return render(f"A password reset link was sent to {mask_email(caller.email)}; it expires "
                  f"in {link_minutes} minutes ({hhmm(expires)}).", fields)



def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)
