"""The ``switchyard`` command line.

Each module in ``switchyard/cli/commands/`` contributes its commands through ``register(app)``; heavy
imports (torch, FAISS, LangGraph) happen inside the commands so ``switchyard --help`` stays fast.

Every command runs under one error handler (``_Group.invoke``): a full disk, a read-only home, an
unreadable database or a damaged index prints one clear sentence and exits 1; ``--verbose`` (or
``SWITCHYARD_VERBOSE=1``) shows the traceback instead.
"""

from __future__ import annotations

import time

# The CLI's start-up clock: its first statement, so start-up figures include the imports and
# model loading that follow, and never depend on /proc arithmetic (wrong in some containers).
STARTED = time.perf_counter()

import atexit  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
import pkgutil  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Any  # noqa: E402

import click  # noqa: E402
import typer  # noqa: E402
from typer.core import TyperGroup  # noqa: E402
from typer.exceptions import TyperException  # noqa: E402

from switchyard.cli import commands  # noqa: E402
from switchyard.core import library_output  # noqa: E402


def startup_ms() -> float:
    """Milliseconds since this CLI process began importing switchyard's command line."""
    return round((time.perf_counter() - STARTED) * 1000.0, 1)


def friendly_error(exc: BaseException) -> str:
    """What went wrong, in one sentence a person can act on."""
    from switchyard.core.storage import classify_error, describe_error, probe_write

    if classify_error(exc) == "io":
        # SQLite says only "unable to open database file"; the home itself says why.
        from switchyard.core.settings import get_settings

        home = get_settings().home  # the CLI is an entry point: its settings are the process's
        try:
            probe_write(home)
        except OSError as cause:
            return describe_error(cause, home) or str(cause)
    outside = _outside_home(exc)
    if outside:
        return outside
    storage = describe_error(exc)
    if storage:
        return storage
    known = ("DatabaseError", "IndexIntegrityError", "IndexReadOnlyError", "UnknownUserError",
             "StorageError", "ArticleError", "JsonLimitError", "InputError",
             "EncoderUnavailable", "PackError", "LangSmithReadError", "SealError", "ConfigError", "ForgetIncomplete",
             "DatabaseUnavailable")
    if any(cls.__name__ in known for cls in type(exc).__mro__):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


def _outside_home(exc: BaseException) -> str | None:
    """A file error on a path outside SWITCHYARD_HOME (an --out, --write or init folder of the
    user's) is said of that path: the storage messages point at the home, which is not it."""
    filename = getattr(exc, "filename", None) if isinstance(exc, OSError) else None
    if not filename:
        return None
    from switchyard.core.settings import get_settings

    try:
        home = get_settings().home.resolve()
        path = Path(os.fsdecode(filename)).resolve()
    except Exception:  # noqa: BLE001 - no settings or an odd name: the generic message
        return None
    if path.is_relative_to(home):
        return None
    return f"cannot write or read {path}: {exc.strerror or exc}"


def pack_data_file(settings: Any, key: str, given: Path | None = None) -> Path:
    """``given``, else the domain pack's ``[paths] <key>`` file; when the pack has none, the
    pack's own message (manifest, key, fix) and exit code 1."""
    if given is not None:
        return given
    from switchyard.core.pack import PackError

    try:
        return settings.pack.data_file(key)  # type: ignore[no-any-return]
    except PackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


# Typer vendors its own click; exceptions of either are click's business, not faults.
_PASS_THROUGH = (TyperException, typer.Exit, typer.Abort, click.exceptions.Exit,
                 click.exceptions.Abort, click.ClickException)


class _Group(TyperGroup):
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:  # usage errors and exits keep click's own handling
            raise
        except Exception as exc:
            if ctx.params.get("verbose") or os.environ.get("SWITCHYARD_VERBOSE") == "1":
                raise
            typer.echo(f"error: {friendly_error(exc)}", err=True)
            typer.echo("(run `switchyard --verbose ...` for the full traceback)", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    name="switchyard",
    help="Route each LLM agent request to the cheapest agent that can handle it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_Group,
)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Show full tracebacks on errors, and libraries' progress bars, "
                                "warnings and logs.")] = False,
    domain: Annotated[Path | None, typer.Option(
        "--domain", help="The domain pack to run on: a folder holding a domain.toml "
                         "(default: SWITCHYARD_DOMAIN, else the bundled default pack).",
        file_okay=False)] = None,
) -> None:
    """Route each LLM agent request to the cheapest agent that can handle it."""
    # A finished command's process spent ~0.37 s in the interpreter's final garbage collection
    # of LangGraph's and LangChain's object graphs: a fifth of an `ask` answered from the cache.
    # Freezing the heap at exit skips that collection only: commands close their files and
    # databases themselves, and every other exit handler still runs.
    atexit.register(gc.freeze)
    # Before any command imports a model library: their output is configured at the source.
    library_output.configure(verbose=verbose or None)
    if domain is not None:
        # The process's domain: every settings object built from here on names this pack, and
        # child processes (langgraph dev) inherit it.
        os.environ["SWITCHYARD_DOMAIN"] = str(domain.expanduser().resolve())
    chosen = os.environ.get("SWITCHYARD_DOMAIN", "").strip()
    if chosen:
        from switchyard.core.domain import activate
        from switchyard.core.pack import load_pack_cached

        activate(load_pack_cached(chosen))  # a bad manifest stops here: file, key and fix

for _module in sorted(m.name for m in pkgutil.iter_modules(commands.__path__)):
    importlib.import_module(f"switchyard.cli.commands.{_module}").register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
