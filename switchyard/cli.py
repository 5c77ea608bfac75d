"""The ``switchyard`` command line.

Each module in ``switchyard/commands/`` contributes its commands through ``register(app)``; heavy
imports (torch, FAISS, LangGraph) happen inside the commands so ``switchyard --help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated

import typer

from switchyard import commands, library_output

app = typer.Typer(
    name="switchyard",
    help="Route each LLM agent request to the cheapest agent that can handle it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Also show libraries' progress bars, warnings and logs.")] = False,
) -> None:
    # Before any command imports a model library: their output is configured at the source.
    library_output.configure(verbose=verbose or None)

for _module in sorted(m.name for m in pkgutil.iter_modules(commands.__path__)):
    importlib.import_module(f"switchyard.commands.{_module}").register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
