"""``switchyard db seed`` and ``switchyard db info``: the customer database;
``switchyard db migrate``: the shared PostgreSQL schema."""

from __future__ import annotations

import json

import typer

from switchyard.cli.params import utf8_text

db_app = typer.Typer(help="The customer database (SQLite under SWITCHYARD_HOME).",
                     no_args_is_help=True)


@db_app.command("seed")
def seed_cmd(force: bool = typer.Option(False, "--force", help="Rebuild even if up to date.")) -> None:
    """Build the deterministic customer database (skipped when already up to date)."""
    from switchyard.app import Switchyard

    result = Switchyard().database.seed(force=force)
    if result.skipped:
        typer.echo(f"Database up to date at {result.path} (content hash {result.content_hash[:16]}); "
                   "use --force to rebuild.")
        return
    typer.echo(f"Seeded {result.path} in {result.seconds:.1f} s (content hash "
               f"{result.content_hash[:16]}).")
    for table, n in result.counts.items():
        typer.echo(f"  {table:<16} {n:>8,}")
    if result.kept_runtime_rows is not None:
        kept = ", ".join(f"{n:,} {t}" for t, n in result.kept_runtime_rows.items())
        typer.echo(f"Runtime rows kept: {kept}.")


@db_app.command("info")
def info_cmd() -> None:
    """Show where the database is, its seed version, row counts and the demo user."""
    from switchyard.app import Switchyard
    from switchyard.tools.database import connect, read_meta, row_counts

    database = Switchyard().database
    path = database.path
    meta = read_meta(path)
    if not meta:
        typer.echo(f"No customer database at {path}; run `switchyard db seed`.")
        raise typer.Exit(1)
    typer.echo(f"path: {path}")
    for key in ("schema_version", "seed", "seed_version", "as_of", "content_hash", "demo_user_id"):
        typer.echo(f"{key}: {meta.get(key)}")
    if meta.get("seed_version") != database.seed_version():
        typer.echo("status: OUTDATED (the domain pack's seed or product sheet changed); run "
                   "`switchyard db seed`")
    with connect(path) as conn:
        counts = row_counts(conn)
        demo = conn.execute(
            "SELECT u.id, u.email, u.role, o.id AS org_id, o.name FROM users u "
            "JOIN organizations o ON o.id = u.org_id WHERE u.id = ?", (meta.get("demo_user_id"),),
        ).fetchone()
    typer.echo("row_counts: " + json.dumps(counts))
    if demo:
        typer.echo(f"demo_user: {demo['id']} {demo['email']} ({demo['role']}) of org "
                   f"{demo['org_id']} {demo['name']}")


@db_app.command("migrate")
def migrate_cmd(
    url: str | None = typer.Option(
        None, "--url", callback=utf8_text, help="PostgreSQL URL (default: SWITCHYARD_DATABASE_URL)."
    ),
) -> None:
    """Create or update the shared PostgreSQL schema (cache, single-flight, limits, threads).

    Idempotent, and safe to run from several replicas at once.
    """
    from switchyard.core.settings import get_settings

    url = url or get_settings().database_url
    if not url:
        typer.echo("No database: set SWITCHYARD_DATABASE_URL or pass --url postgresql://...",
                   err=True)
        raise typer.Exit(2)
    try:
        from switchyard.pg.pool import DatabaseUnavailable
        from switchyard.pg.schema import migrate
    except ImportError as exc:
        typer.echo(f"PostgreSQL support is not installed ({exc.name}): "
                   'pip install -e ".[postgres]"', err=True)
        raise typer.Exit(2) from None
    try:
        before, after = migrate(url)
    except DatabaseUnavailable as exc:
        typer.echo(f"migrate failed: {exc}", err=True)
        raise typer.Exit(1) from None
    if before == after:
        typer.echo(f"Schema up to date (version {after}).")
    else:
        typer.echo(f"Schema migrated from version {before} to {after}.")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
