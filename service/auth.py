"""Who is asking: identity from a verified credential, never from the request body.

Default (``SWITCHYARD_AUTH=jwt``): ``Authorization: Bearer <JWT>``, HS256, signed with
``SWITCHYARD_AUTH_SECRET``. Claims:

- ``sub`` (required): the user id. It must follow the body's id pattern and name a known, active
  user of the customer database.
- ``tenant`` (optional): the cache and thread partition. Without it the tenant is the user's
  organization in the customer database (``org-<id>``); a request body may repeat the tenant but
  never choose it (a different value is 403).
- ``exp`` (required), ``nbf``, ``iat``: integers (seconds since the epoch). PyJWT also accepts
  numeric strings; they are refused here.
- ``roles`` (optional): a list of role names; ``"admin"`` grants the operator endpoints
  (``switchyard.service.access.require_role``). An operator's ``sub`` need not be a customer:
  such a token reaches the operator endpoints only, never a chat.

No, bad or unacceptable credential: 401 with the reason. A body ``user_id`` or ``tenant`` that
differs from the token: 403 (a client that names someone else is refused, not silently corrected).

``SWITCHYARD_AUTH=none`` is a local-trial mode: the body's ``user_id`` is trusted. It says so at
start-up and in ``/readyz``; never expose it to anyone you would not hand every account to.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt

from switchyard.core.settings import Settings
from switchyard.service.schemas import ID_PATTERN

ALGORITHM = "HS256"
# Short enough that a leaked secret is not silently weak: RFC 7518 asks for >= 256 bits for HS256.
MIN_SECRET_BYTES = 32
ADMIN_ROLE = "admin"
# A token longer than this is refused before it is decoded (a real one is a few hundred bytes).
MAX_TOKEN_BYTES = 8192
_ID = re.compile(ID_PATTERN)
_TIME_CLAIMS = ("exp", "nbf", "iat")
_MAX_ROLES = 16
# PyJWT >= 2.10 checks that 'sub' is a string itself (older versions: checked below).
_INVALID_SUBJECT: type[Exception] | tuple[()] = getattr(jwt.exceptions, "InvalidSubjectError", ())


class AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Accounts(Protocol):
    """What authentication reads from the customer database (``CustomerDatabase``)."""

    def user_account(self, user_id: str) -> tuple[str, int] | None: ...


@dataclass(frozen=True)
class Identity:
    user_id: str
    tenant: str | None
    verified: bool  # False only in the local-trial mode
    roles: frozenset[str] = field(default_factory=frozenset)
    # A known, active user of the customer database (an operator token may name someone else).
    customer: bool = True

    def has_role(self, role: str) -> bool:
        return role in self.roles


def organization_tenant(org_id: int) -> str:
    """The tenant of a user whose token names none: their organization."""
    return f"org-{int(org_id)}"


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
                        "cache, threads and traces, derives the keys that encrypt personal data "
                        "at rest, and every replica must share it.")
    return problems


def issue_token(settings: Settings, user_id: str, *, tenant: str | None = None,
                ttl_s: float = 3600.0, roles: Iterable[str] = ()) -> str:
    """A signed token for ``user_id`` (for tests, trials and services that mint their own)."""
    if settings.auth_secret is None:
        raise ValueError("SWITCHYARD_AUTH_SECRET is not set")
    claims: dict[str, object] = {"sub": user_id, "exp": int(time.time() + ttl_s),
                                 "iat": int(time.time())}
    if tenant:
        claims["tenant"] = tenant
    if roles:
        claims["roles"] = sorted(set(roles))
    return jwt.encode(claims, settings.auth_secret.get_secret_value(), algorithm=ALGORITHM)


def _bad_id(value: Any) -> str | None:
    """Why a claim cannot be an id (None when it can): the body's pattern and length limit."""
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if not _ID.fullmatch(value):
        return ("must be 1 to 128 characters: letters, digits and . _ : @ -, starting with a "
                "letter or digit")
    return None


class Authenticator:
    """Verifies a Bearer token and resolves who it names (``accounts``: the customer database)."""

    def __init__(self, settings: Settings, accounts: Accounts | None = None) -> None:
        self.mode = settings.auth
        self._secret = settings.auth_secret.get_secret_value() if settings.auth_secret else ""
        self.accounts = accounts

    # -- the credential alone (before any body is read) -----------------------------------------
    def authenticate(self, authorization: str | None) -> Identity | None:
        """The identity a Bearer token proves, or None in the local-trial mode (the body says)."""
        if self.mode == "none":
            return None
        claims = self.claims(authorization)
        user, roles = claims["sub"], claims["roles"]
        account = self.accounts.user_account(user) if self.accounts is not None else None
        if account is None or account[0] != "active":
            if ADMIN_ROLE in roles:  # an operator, not a customer: operator endpoints only
                return Identity(user, claims.get("tenant"), verified=True, roles=roles,
                                customer=False)
            if self.accounts is None:
                raise AuthError(401, "Sign-in cannot be checked: no customer database.")
            if account is None:
                raise AuthError(401, "The token's user ('sub') is not a known user.")
            raise AuthError(401, f"The token's user ('sub') is not active ({account[0]}).")
        tenant = claims.get("tenant") or organization_tenant(account[1])
        return Identity(user, tenant, verified=True, roles=roles)

    def claims(self, authorization: str | None) -> dict[str, Any]:
        """The token's verified, well-formed claims: sub, tenant (if any), roles."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError(401, "Sign in: send 'Authorization: Bearer <token>'.")
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthError(401, f"The token is longer than {MAX_TOKEN_BYTES} bytes.")
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM],
                                options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError as exc:
            raise AuthError(401, "The token has expired; sign in again.") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthError(401, "The token is not valid yet ('nbf' or 'iat' in the future).") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(401, f"The token has no '{exc.claim}' claim.") from exc
        except _INVALID_SUBJECT as exc:
            raise AuthError(401, f"The token's 'sub' claim is not valid ({exc}).") from exc
        except jwt.exceptions.InvalidIssuedAtError as exc:
            raise AuthError(401, "The token's 'iat' claim must be an integer "
                                 "(seconds since the epoch).") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(401, "The token is not valid.") from exc
        except Exception as exc:  # noqa: BLE001 - whatever a hostile token does, it is a 401
            raise AuthError(401, "The token is not valid.") from exc
        if not isinstance(claims, dict):
            raise AuthError(401, "The token's claims are not an object.")
        for name in _TIME_CLAIMS:
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, int)):
                raise AuthError(401, f"The token's '{name}' claim must be an integer "
                                     "(seconds since the epoch).")
        why = _bad_id(claims.get("sub"))
        if why:
            raise AuthError(401, f"The token's 'sub' claim {why}.")
        out: dict[str, Any] = {"sub": claims["sub"], "roles": self._roles(claims.get("roles"))}
        if claims.get("tenant") is not None:
            why = _bad_id(claims["tenant"])
            if why:
                raise AuthError(401, f"The token's 'tenant' claim {why}.")
            out["tenant"] = claims["tenant"]
        return out

    @staticmethod
    def _roles(value: Any) -> frozenset[str]:
        if value is None:
            return frozenset()
        if (not isinstance(value, list) or len(value) > _MAX_ROLES
                or any(_bad_id(r) for r in value)):
            raise AuthError(401, f"The token's 'roles' claim must be a list of at most "
                                 f"{_MAX_ROLES} role names.")
        return frozenset(value)

    # -- the body's claims, checked against the credential ---------------------------------------
    def bind(self, who: Identity | None, body_user: str | None,
             body_tenant: str | None) -> Identity:
        """Who a request acts for: the token's identity (the body may only repeat it), or in the
        local-trial mode the body's user."""
        if who is None:
            if self.mode != "none":
                raise AuthError(401, "Sign in: send 'Authorization: Bearer <token>'.")
            if not body_user:
                raise AuthError(422, "user_id: required in the local-trial mode "
                                     "(SWITCHYARD_AUTH=none).")
            return Identity(body_user, body_tenant, verified=False)
        if not who.customer:
            raise AuthError(403, "This token is an operator's: it may call the operator "
                                 "endpoints only, not act as a customer.")
        if body_user is not None and body_user != who.user_id:
            raise AuthError(403, "user_id in the body does not match the signed-in user.")
        if body_tenant is not None and body_tenant != who.tenant:
            raise AuthError(403, "tenant in the body does not match the signed-in user's tenant.")
        return who

    def identify(self, authorization: str | None, body_user: str | None,
                 body_tenant: str | None) -> Identity:
        """:meth:`authenticate` then :meth:`bind` (callers that hold the body already)."""
        return self.bind(self.authenticate(authorization), body_user, body_tenant)
