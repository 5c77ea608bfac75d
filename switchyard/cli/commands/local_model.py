"""``switchyard local-model start|stop|status``: llama.cpp's server as a local model provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from switchyard.llm.local_server import LocalModelServer

local_app = typer.Typer(
    help="Run a local GGUF model with llama.cpp's llama-server (the `local` extra).",
    no_args_is_help=True,
)


def _server(model: Path | None = None, port: int | None = None,
            alias: str | None = None) -> LocalModelServer:
    # Imported here so `switchyard --help` does not load the model layer.
    from switchyard.core.settings import get_settings
    from switchyard.llm.local_server import LocalModelServer

    return LocalModelServer.from_settings(get_settings(), model_path=model, port=port, alias=alias)


@local_app.command("start")
def start(
    model: Annotated[Path | None, typer.Option(
        "--model", help="A GGUF file (default: the bundled SmolLM2-135M-Instruct).")] = None,
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (0 = any free port).")] = None,
    alias: Annotated[str | None, typer.Option(
        help="Model name the server answers to (default: from the file name).")] = None,
    probe: Annotated[bool, typer.Option(
        help="Probe tool calling, JSON schema and context (cached per model).")] = True,
) -> None:
    """Start the server, wait until it is ready and print how to point the fast tier at it."""
    import httpx

    from switchyard.llm.capabilities import probe_capabilities
    from switchyard.llm.local_server import LocalServerError, tier_settings_lines

    server = _server(model, port, alias)
    try:
        status = server.start()
    except LocalServerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"local model server ready: pid {status.pid}, model {status.model}")
    typer.echo(f"base_url: {status.base_url}   (log: {server.log_path})")
    tools: bool | None = None
    if probe:
        try:
            caps = probe_capabilities(status.base_url or "", status.alias or "", home=server.home)
        except httpx.HTTPError as exc:  # the server still runs; only the probe failed
            typer.echo(f"capability probe failed: {exc}", err=True)
        else:
            tools = caps.tools
            typer.echo(f"capabilities: tools={caps.tools} json_schema={caps.json_schema}"
                       f" context_tokens={caps.context_tokens}")
    typer.echo("Put the fast tier on it with:")
    for line in tier_settings_lines(status, supports_tools=tools):
        typer.echo(f"  export {line}")


@local_app.command("stop")
def stop() -> None:
    """Stop the server started by `switchyard local-model start`."""
    status = _server().stop()
    if status.running:
        typer.echo(f"stopped local model server (pid {status.pid}, port {status.port})")
    else:
        typer.echo("no local model server running" + (" (removed a stale record)" if status.stale else ""))


@local_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Whether the server runs and answers /health; exit code 1 when it does not run."""
    current = _server().status()
    if as_json:
        typer.echo(json.dumps(current.to_dict(), indent=2))
    elif current.running:
        health = "ready" if current.healthy else "NOT answering /health"
        typer.echo(f"running: pid {current.pid}, {current.base_url}, model {current.alias}"
                   f" ({current.model}), {health}")
    else:
        typer.echo("not running" + (" (removed a stale record)" if current.stale else ""))
    if not current.running:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(local_app, name="local-model")
