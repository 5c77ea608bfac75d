"""``switchyard token``: a signed Bearer token for trying the authenticated service locally."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def token(
        user: Annotated[str, typer.Argument(help="User id to sign in as (the token's 'sub').")],
        tenant: Annotated[str | None, typer.Option(help="Tenant claim.")] = None,
        ttl: Annotated[float, typer.Option(help="Seconds until it expires.")] = 3600.0,
        role: Annotated[list[str] | None, typer.Option(
            "--role", help="A role for the 'roles' claim (repeat for more): 'operator' opens "
                           "/metrics and the savings page, 'admin' those and the admin "
                           "endpoints.")] = None,
    ) -> None:
        """Print an HS256 JWT for USER, signed with SWITCHYARD_AUTH_SECRET (for trials and tests;
        in production your identity provider issues the tokens)."""
        from switchyard.core.settings import get_settings
        from switchyard.service.auth import issue_token

        settings = get_settings()
        if settings.auth_secret is None:
            typer.echo("error: SWITCHYARD_AUTH_SECRET is not set; export the service's signing "
                       "secret first.", err=True)
            raise typer.Exit(code=2)
        if not user.strip():
            typer.echo("error: the user id is empty.", err=True)
            raise typer.Exit(code=2)
        typer.echo(issue_token(settings, user, tenant=tenant, ttl_s=ttl, roles=role or ()))
