"""Authentication for ``langgraph dev`` and LangGraph Platform (``langgraph.auth.json``).

The same HS256 Bearer tokens and the same rules as the HTTP service
(``switchyard.service.auth.Authenticator``): the claims are validated, ``sub`` must name a known,
active user of the customer database, and the tenant is the token's ``tenant`` claim or else the
user's organization. Every run's context is rewritten to the token's user and tenant, so the
graph never acts for a user or tenant named by client-supplied context, and the deployment's
choices (a forced tier, a tier's model, skipping the cache) are not the client's to make: they
are dropped from the run's context and configurable, as the HTTP service's schema refuses them.
Threads, runs and crons are owned by the user who made them (a run without a thread too: its
temporary thread is the caller's); store items live under the caller's namespace; assistants
are the deployment's configuration, which callers read but do not write. ``langgraph.auth.json``
sets ``disable_studio_auth``: a request saying it comes from Studio (``x-auth-scheme:
langsmith``) needs a token like any other.
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


# Set by the deployment (settings, benchmarks), never by a client: each changes what a request
# costs. The token decides who asks and for which tenant.
DEPLOYMENT_CHOICES = ("force_tier", "fast_model", "standard_model", "expert_model", "use_cache")


@auth.on.threads.create_run
async def bind_run_to_token(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, str]:
    """The run acts as the token's user whatever the client put in its context or config."""
    identity = ctx.user.identity
    kwargs = value.get("kwargs")
    if not isinstance(kwargs, dict):
        kwargs = value["kwargs"] = {}
    context = {k: v for k, v in dict(kwargs.get("context") or {}).items()
               if k not in DEPLOYMENT_CHOICES}
    context["user_id"] = identity
    # Always the token's tenant (its claim, or the user's organization), never the client's.
    context["tenant"] = _claim(ctx.user, "tenant")
    kwargs["context"] = context
    configurable = (kwargs.get("config") or {}).get("configurable")
    if isinstance(configurable, dict):
        # The server also reads context from configurable and keeps it in the run's record.
        # Changed in place: the server holds these dicts from before this handler ran.
        for key in DEPLOYMENT_CHOICES:
            configurable.pop(key, None)
        configurable.update(user_id=identity, tenant=context["tenant"])
    # A run without a thread gets a temporary one made from this metadata: it must be the
    # caller's, or the run's own owner check fails it.
    _own(value, identity)
    return {"owner": identity}


def _own(value: Any, identity: str) -> None:
    if isinstance(value, dict):
        if not isinstance(value.get("metadata"), dict):
            value["metadata"] = {}
        value["metadata"]["owner"] = identity


def _claim(user: Any, name: str) -> str:
    try:
        return str(user[name] or "")
    except (KeyError, TypeError):
        return str(getattr(user, name, "") or "")


@auth.on.store
async def own_namespace(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
    """Store items live under the caller's namespace: ``("u-0001", ...)``. A namespace that does
    not start with the caller is put under it (the SDK's documented scoping), so one user never
    reads, writes, lists or deletes another's items."""
    namespace = tuple(value.get("namespace") or ())
    if not namespace or namespace[0] != ctx.user.identity:
        namespace = (ctx.user.identity, *namespace)
    value["namespace"] = namespace


@auth.on.assistants.read
@auth.on.assistants.search
async def read_assistants(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> bool:
    """The deployment's assistants (the graph's, made by the system) are everyone's to read."""
    return True


@auth.on.assistants.create
@auth.on.assistants.update
@auth.on.assistants.delete
async def refuse_assistant_writes(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> bool:
    raise Auth.exceptions.HTTPException(
        status_code=403, detail="Assistants are this deployment's configuration: a customer "
                                "token can use them, not create, change or delete them.")


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, str]:
    """Everything else (threads, runs, crons): a user sees and touches only their own."""
    _own(value, ctx.user.identity)
    return {"owner": ctx.user.identity}
