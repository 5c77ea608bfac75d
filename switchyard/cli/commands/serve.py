"""``switchyard serve``: the HTTP service (``service/app.py``) under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
        workers: Annotated[int, typer.Option(help="Worker processes (each builds its own graph).")] = 1,
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
        metrics_port: Annotated[int | None, typer.Option(
            help="Also serve GET /metrics, without a token, on this port (bind it with "
                 "--metrics-host to an address only your monitoring reaches).")] = None,
        metrics_host: Annotated[str | None, typer.Option(
            help="Interface of the --metrics-port listener (default 127.0.0.1).")] = None,
    ) -> None:
        """Serve POST /v1/chat, POST /v1/chat/stream, GET /healthz and /readyz, GET /metrics
        and the savings page (GET /)."""
        import os

        import uvicorn

        # Through the environment: uvicorn imports the app (and reads the settings) itself.
        if metrics_port is not None:
            os.environ["SWITCHYARD_OBSERVABILITY__METRICS_PORT"] = str(metrics_port)
        if metrics_host is not None:
            os.environ["SWITCHYARD_OBSERVABILITY__METRICS_HOST"] = metrics_host
        if workers > 1 and (metrics_port is not None
                            or os.environ.get("SWITCHYARD_OBSERVABILITY__METRICS_PORT")):
            typer.echo("error: --metrics-port serves one process's metrics; with --workers > 1 "
                       "run one replica per process instead.", err=True)
            raise typer.Exit(code=2)

        from switchyard.core.settings import get_settings
        from switchyard.service.auth import configuration_problems
        from switchyard.service.health import storage_health

        # Refuse to start on storage that would fail every request (full or read-only disk),
        # with the reason, instead of a traceback from deep inside start-up.
        settings = get_settings()
        blocking = [p for p in storage_health(settings)
                    if p.component == "home" and p.kind in ("full", "read_only", "denied")]
        for problem in blocking:
            typer.echo(f"error: cannot serve: {problem.message}", err=True)
        if blocking:
            raise typer.Exit(1)

        problems = configuration_problems(settings)
        if problems:
            for problem in problems:
                typer.echo(f"error: {problem}", err=True)
            raise typer.Exit(code=2)

        # An import string (not the app object) so --workers > 1 can re-import it per process.
        uvicorn.run("switchyard.service.app:app", host=host, port=port, workers=workers, log_level=log_level)
