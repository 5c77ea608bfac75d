"""Authentication for ``langgraph dev`` and LangGraph Platform (``langgraph.auth.json``).

The same HS256 Bearer tokens and the same rules as the HTTP service
(``switchyard.service.auth.Authenticator``): the claims are validated, ``sub`` must name a known,
active user of the customer database, and the tenant is the token's ``tenant`` claim or else the
user's organization. Every run's context is rewritten to the token's user and tenant, so the
graph never acts for a user or tenant named by client-supplied context; threads and runs are
owned by the user who made them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph_sdk import Auth

from switchyard.core.settings import get_settings
from switchyard.service.auth import Authenticator, AuthError

auth = Auth()
_authenticator: Authenticator | None = None


def _verify(authorization: str | None) -> tuple[str, str | None]:
    global _authenticator
    if _authenticator is None:
        settings = get_settings()
        if settings.auth != "jwt" or settings.auth_secret is None:
            raise Auth.exceptions.HTTPException(
                status_code=500, detail="langgraph.auth.json needs SWITCHYARD_AUTH_SECRET set")
        from switchyard.tools.database import CustomerDatabase

        _authenticator = Authenticator(settings, CustomerDatabase.for_settings(settings))
    try:
        who = _authenticator.authenticate(authorization)
        if who is None or not who.customer:
            raise AuthError(403, "This token is an operator's: it cannot run the graph.")
    except AuthError as exc:
        raise Auth.exceptions.HTTPException(status_code=exc.status, detail=exc.message) from exc
    return who.user_id, who.tenant


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    # A database read (is the user known and active?): off the event loop.
    user_id, tenant = await asyncio.to_thread(_verify, authorization)
    return {"identity": user_id, "tenant": tenant or ""}


@auth.on.threads.create_run
async def bind_run_to_token(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, str]:
    """The run acts as the token's user whatever the client put in its context."""
    kwargs = value.setdefault("kwargs", {})
    context = dict(kwargs.get("context") or {})
    context["user_id"] = ctx.user.identity
    # Always the token's tenant (its claim, or the user's organization), never the client's.
    context["tenant"] = _claim(ctx.user, "tenant")
    kwargs["context"] = context
    return {"owner": ctx.user.identity}


def _claim(user: Any, name: str) -> str:
    try:
        return str(user[name] or "")
    except (KeyError, TypeError):
        return str(getattr(user, name, "") or "")


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, str]:
    """Everything else (threads, runs, crons, store): a user sees and touches only their own."""
    metadata = value.setdefault("metadata", {}) if isinstance(value, dict) else {}
    if isinstance(metadata, dict):
        metadata["owner"] = ctx.user.identity
    return {"owner": ctx.user.identity}
