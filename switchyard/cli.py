"""The ``switchyard`` command line.

Each module in ``switchyard/commands/`` contributes its commands through ``register(app)``; heavy
imports (torch, FAISS, LangGraph) happen inside the commands so ``switchyard --help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from switchyard import commands

app = typer.Typer(
    name="switchyard",
    help="Route each LLM agent request to the cheapest agent that can handle it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in sorted(m.name for m in pkgutil.iter_modules(commands.__path__)):
    importlib.import_module(f"switchyard.commands.{_module}").register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
