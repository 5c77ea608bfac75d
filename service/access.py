"""Authenticate first: the credential is checked before a byte of the body is read.

Two pieces, both reusable by any endpoint of the service:

- :class:`AuthenticateFirst`, a pure ASGI middleware in front of every route under its
  ``prefixes`` (``/v1/`` by default). It verifies ``Authorization`` from the headers alone and
  answers **401** (a short JSON body and ``WWW-Authenticate: Bearer``) before the body is read,
  parsed or validated, whatever the body holds; the unread body is drained and dropped within a
  budget so the client can read the 401 (unless the client waits for ``100 Continue``: then it
  has sent no body, and is answered at once). A verified :class:`~switchyard.service.auth.Identity`
  goes to the route in ``request.state.identity``.
- FastAPI dependencies: :func:`signed_in` (the request's identity; ``None`` in the local-trial
  mode, where the body names the user) and :func:`require_role` (``Depends(require_role("admin"))``
  for operator endpoints: 403 without the role). They also work on routes outside the
  middleware's prefixes (``/metrics``): they authenticate from the header themselves.

A new endpoint under ``/v1/`` is authenticated by the middleware as soon as it is registered; add
``identity: Identity | None = Depends(signed_in)`` to read who asks, or ``Depends(require_role(
"admin"))`` to restrict it to operators.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import anyio
from fastapi import Request

from switchyard.core.settings import Settings
from switchyard.service.auth import Authenticator, AuthError, Identity
from switchyard.service.limits import DrainBudget, drain, expects_continue

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

WWW_AUTHENTICATE = 'Bearer realm="switchyard"'
# A refused body is read and dropped up to this much, for this long (HTTP/1.1 clients send the
# whole body before reading the answer; closing on unread data would reset the connection).
_DRAIN_BYTES = 8 * 1024 * 1024
_DRAIN_SECONDS = 5.0
_STATE_KEY = "identity"
_UNSET = object()


class AccessRefused(Exception):
    """Raised by the dependencies; the service's handler turns it into the JSON error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def authenticator_of(app: Any) -> Authenticator | None:
    """The running service's authenticator (None while it is starting)."""
    service = getattr(getattr(app, "state", None), "service", None)
    return getattr(service, "authenticator", None)


class AuthenticateFirst:
    """Refuse a request without a valid credential before its body is read (see module doc)."""

    def __init__(self, app: ASGIApp, prefixes: Iterable[str] = ("/v1/",),
                 settings: Settings | None = None, drain_budget: DrainBudget | None = None) -> None:
        self.app = app
        self.prefixes = tuple(prefixes)
        self.drain_budget = drain_budget
        # While the service starts (no customer database yet) tokens are still verified, so a
        # request without a valid credential is a 401 then too, never a parsed body.
        self._starting = Authenticator(settings) if settings is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        header = _header(scope, b"authorization")
        authenticator = authenticator_of(scope.get("app"))
        try:
            if authenticator is None:
                if self._starting is None:
                    raise AuthError(503, "The service is starting up; retry in a few seconds.")
                if self._starting.mode != "none":
                    self._starting.claims(header)
                # The route answers 503 until the service is up.
                await self.app(scope, receive, send)
                return
            # A database read (is the user known and active?): off the event loop.
            who = await anyio.to_thread.run_sync(authenticator.authenticate, header)
        except AuthError as exc:
            await _refuse(scope, receive, send, exc.status, exc.message, self.drain_budget)
            return
        scope.setdefault("state", {})[_STATE_KEY] = who
        await self.app(scope, receive, send)


async def signed_in(request: Request) -> Identity | None:
    """Who the request's credential names (None in the local-trial mode).

    Set by :class:`AuthenticateFirst`; on a route outside its prefixes, authenticated here."""
    who = getattr(request.state, _STATE_KEY, _UNSET)
    if who is not _UNSET:
        return who  # type: ignore[return-value]
    authenticator = authenticator_of(request.app)
    if authenticator is None:
        raise AccessRefused(503, "The service is starting up; retry in a few seconds.")
    try:
        who = await anyio.to_thread.run_sync(authenticator.authenticate,
                                             request.headers.get("authorization"))
    except AuthError as exc:
        raise AccessRefused(exc.status, exc.message) from exc
    request.state.identity = who
    return who


def require_role(role: str) -> Callable[[Request], Awaitable[Identity]]:
    """A dependency that lets only a verified token with ``role`` (in its ``roles`` claim) in.

    In the local-trial mode (no credentials at all) operator endpoints are closed: 403."""

    async def dependency(request: Request) -> Identity:
        who = await signed_in(request)
        if who is None:
            raise AccessRefused(403, f"This endpoint needs a signed token with the {role!r} "
                                     "role; the local-trial mode (SWITCHYARD_AUTH=none) has none.")
        if not who.has_role(role):
            raise AccessRefused(403, f"This endpoint needs the {role!r} role in the token's "
                                     "'roles' claim.")
        return who

    dependency.__name__ = f"require_{role}"
    return dependency


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str,
                  budget: DrainBudget | None = None) -> None:
    # A client waiting for "100 Continue" is answered at once: reading would ask for its body.
    if not expects_continue(scope):
        await drain(receive, budget, _DRAIN_BYTES, _DRAIN_SECONDS)
    payload = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(payload)).encode()), (b"connection", b"close")]
    if status == 401:
        headers.append((b"www-authenticate", WWW_AUTHENTICATE.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


