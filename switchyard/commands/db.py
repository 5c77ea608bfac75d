"""``switchyard db seed`` and ``switchyard db info``: the customer database."""

from __future__ import annotations

import json

import typer

db_app = typer.Typer(help="The customer database (SQLite under SWITCHYARD_HOME).",
                     no_args_is_help=True)


@db_app.command("seed")
def seed_cmd(force: bool = typer.Option(False, "--force", help="Rebuild even if up to date.")) -> None:
    """Build the deterministic customer database (skipped when already up to date)."""
    from switchyard.tools.database import seed

    result = seed(force=force)
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
    from switchyard.tools.database import connect, db_path, read_meta, row_counts, seed_version

    path = db_path()
    meta = read_meta(path)
    if not meta:
        typer.echo(f"No customer database at {path}; run `switchyard db seed`.")
        raise typer.Exit(1)
    typer.echo(f"path: {path}")
    for key in ("schema_version", "seed", "seed_version", "as_of", "content_hash", "demo_user_id"):
        typer.echo(f"{key}: {meta.get(key)}")
    if meta.get("seed_version") != seed_version():
        typer.echo("status: OUTDATED (generator or price sheet changed); run `switchyard db seed`")
    with connect() as conn:
        counts = row_counts(conn)
        demo = conn.execute(
            "SELECT u.id, u.email, u.role, o.id AS org_id, o.name FROM users u "
            "JOIN organizations o ON o.id = u.org_id WHERE u.id = ?", (meta.get("demo_user_id"),),
        ).fetchone()
    typer.echo("row_counts: " + json.dumps(counts))
    if demo:
        typer.echo(f"demo_user: {demo['id']} {demo['email']} ({demo['role']}) of org "
                   f"{demo['org_id']} {demo['name']}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
