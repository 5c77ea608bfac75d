"""``switchyard init DIR``: write a small working domain pack to edit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer

# Serves the pack's graph with `langgraph dev` run inside the pack's folder.
LANGGRAPH_JSON = {
    "$schema": "https://langgra.ph/schema.json",
    "dependencies": ["."],
    "graphs": {"switchyard": "switchyard.studio:graph"},
    "env": {"SWITCHYARD_DOMAIN": "."},
    "python_version": "3.11",
}


def write_pack(target: Path) -> Path:
    """Copy the bundled template pack into ``target`` (which must be missing or empty)."""
    from switchyard.core.pack import bundled_packs_dir, load_pack

    target = target.expanduser()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise typer.BadParameter(f"{target} already exists and is not an empty folder; "
                                 "choose a new folder", param_hint="DIR")
    template = bundled_packs_dir() / "template"
    existed = target.exists()
    try:
        shutil.copytree(template, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (target / "langgraph.json").write_text(json.dumps(LANGGRAPH_JSON, indent=2) + "\n",
                                               encoding="utf-8")
    except (OSError, shutil.Error) as exc:
        # Nothing half-written is left behind: the folder goes (or is emptied) again.
        if not existed:
            shutil.rmtree(target, ignore_errors=True)
        elif target.is_dir():
            for child in list(target.iterdir()):
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        why = (exc.args[0][0][2] if isinstance(exc, shutil.Error) and exc.args and exc.args[0]
               else getattr(exc, "strerror", None) or str(exc))
        raise typer.BadParameter(f"cannot write a pack in {target}: {why}",
                                 param_hint="DIR") from None
    load_pack(target)  # what we wrote must load
    return target


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init_cmd(
        directory: Path = typer.Argument(..., metavar="DIR", help="Folder to create."),
    ) -> None:
        """Write a small working domain pack (manifest, articles, two tools, labelled requests)
        to edit, then run it with `switchyard --domain DIR setup` and `... demo`."""
        target = write_pack(directory)
        typer.echo(f"wrote a domain pack in {target}:")
        for path in sorted(p for p in target.rglob("*") if p.is_file()):
            typer.echo(f"  {path.relative_to(target)}")
        typer.echo("\nnext:\n"
                   f"  switchyard --domain {directory} setup\n"
                   f"  switchyard --domain {directory} demo\n"
                   f"  switchyard --domain {directory} ask \"How do I cancel a booking?\"\n"
                   f"  cd {directory} && langgraph dev   (serves the pack's graph)\n"
                   "edit domain.toml (docs/domain-packs.md lists every key), the articles, "
                   "the tools and routing/train.jsonl")
