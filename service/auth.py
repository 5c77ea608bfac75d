"""Who is asking: identity from a verified credential, never from the request body.

Default (``SWITCHYARD_AUTH=jwt``): ``Authorization: Bearer <JWT>``, HS256, signed with
``SWITCHYARD_AUTH_SECRET``. Claims: ``sub`` is the user id, ``tenant`` is optional, ``exp`` is
required. No or bad credential: 401. A body ``user_id`` or ``tenant`` that differs from the token:
403 (a client that names someone else is refused, not silently corrected).

``SWITCHYARD_AUTH=none`` is a local-trial mode: the body's ``user_id`` is trusted. It says so at
start-up and in ``/readyz``; never expose it to anyone you would not hand every account to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from switchyard.core.settings import Settings

ALGORITHM = "HS256"
# Short enough that a leaked secret is not silently weak: RFC 7518 asks for >= 256 bits for HS256.
MIN_SECRET_BYTES = 32


class AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Identity:
    user_id: str
    tenant: str | None
    verified: bool  # False only in the local-trial mode


def configuration_problems(settings: Settings) -> list[str]:
    """Why the service must not start with these settings (empty when it may)."""
    if settings.auth == "none":
        return []
    problems = []
    secret = settings.auth_secret.get_secret_value() if settings.auth_secret else ""
    if not secret:
        problems.append("SWITCHYARD_AUTH_SECRET is not set: the service verifies a signed "
                        "token (HS256 JWT) on every request and needs the signing secret. "
                        "For a local trial without authentication set SWITCHYARD_AUTH=none.")
    elif len(secret.encode()) < MIN_SECRET_BYTES:
        problems.append(f"SWITCHYARD_AUTH_SECRET is shorter than {MIN_SECRET_BYTES} bytes; "
                        "use a random secret, e.g. `python -c 'import secrets; "
                        "print(secrets.token_hex(32))'`.")
    if settings.secret is None:
        problems.append("SWITCHYARD_SECRET is not set: it keys the hashes of user ids in the "
                        "cache, threads and traces, and every replica must share it.")
    return problems


def issue_token(settings: Settings, user_id: str, *, tenant: str | None = None,
                ttl_s: float = 3600.0) -> str:
    """A signed token for ``user_id`` (for tests, trials and services that mint their own)."""
    if settings.auth_secret is None:
        raise ValueError("SWITCHYARD_AUTH_SECRET is not set")
    claims: dict[str, object] = {"sub": user_id, "exp": int(time.time() + ttl_s)}
    if tenant:
        claims["tenant"] = tenant
    return jwt.encode(claims, settings.auth_secret.get_secret_value(), algorithm=ALGORITHM)


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self.mode = settings.auth
        self._secret = settings.auth_secret.get_secret_value() if settings.auth_secret else ""

    def identify(self, authorization: str | None, body_user: str | None,
                 body_tenant: str | None) -> Identity:
        if self.mode == "none":
            if not body_user:
                raise AuthError(422, "user_id: required in the local-trial mode (SWITCHYARD_AUTH=none).")
            return Identity(body_user, body_tenant, verified=False)
        claims = self._claims(authorization)
        user, tenant = claims["sub"], claims.get("tenant")
        if body_user is not None and body_user != user:
            raise AuthError(403, "user_id in the body does not match the signed-in user.")
        if body_tenant is not None and tenant is not None and body_tenant != tenant:
            raise AuthError(403, "tenant in the body does not match the token's tenant.")
        return Identity(user, tenant if tenant is not None else body_tenant, verified=True)

    def _claims(self, authorization: str | None) -> dict[str, str]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "Sign in: send 'Authorization: Bearer <token>'.")
        try:
            claims = jwt.decode(token.strip(), self._secret, algorithms=[ALGORITHM],
                                options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError as exc:
            raise AuthError(401, "The token has expired; sign in again.") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(401, "The token is not valid.") from exc
        sub, tenant = claims.get("sub"), claims.get("tenant")
        if not isinstance(sub, str) or not sub.strip():
            raise AuthError(401, "The token names no user ('sub').")
        if tenant is not None and not isinstance(tenant, str):
            raise AuthError(401, "The token's 'tenant' claim must be a string.")
        return {"sub": sub, **({"tenant": tenant} if tenant else {})}
