"""Who may read the operator's views (``/metrics``, the savings page's figures).

With ``SWITCHYARD_AUTH=jwt``: a Bearer token signed with the service's secret whose ``roles``
claim holds ``operator`` or ``admin`` (``switchyard token ops --role operator``); a user's token is 403, none or a
bad one 401. ``SWITCHYARD_OBSERVABILITY__METRICS_AUTH=none`` opens them (behind a network only
the monitoring reaches); the local-trial mode (``SWITCHYARD_AUTH=none``) has no tokens at all.
"""

from __future__ import annotations

import jwt
from fastapi import Request

from switchyard.core.settings import Settings
from switchyard.service.access import AccessRefused
from switchyard.service.auth import ALGORITHM

OPERATOR_ROLES = frozenset({"operator", "admin"})


def check_operator(settings: Settings, authorization: str | None) -> None:
    """Raise :class:`AccessRefused` unless these headers may read the operator's views."""
    if settings.auth == "none" or settings.observability.metrics_auth == "none":
        return
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AccessRefused(401, "Send an operator's token: 'Authorization: Bearer <token>' "
                                   "(switchyard token NAME --role operator).")
    secret = settings.auth_secret.get_secret_value() if settings.auth_secret else ""
    try:
        claims = jwt.decode(token.strip(), secret, algorithms=[ALGORITHM],
                            options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise AccessRefused(401, "The token has expired.") from exc
    except jwt.InvalidTokenError as exc:
        raise AccessRefused(401, "The token is not valid.") from exc
    roles = claims.get("roles")
    if not isinstance(roles, list) or not set(map(str, roles)) & OPERATOR_ROLES:
        raise AccessRefused(403, "This view needs a token with the operator (or admin) role in "
                                 "its 'roles' claim.")


def require_operator(request: Request, settings: Settings) -> None:
    check_operator(settings, request.headers.get("authorization"))
