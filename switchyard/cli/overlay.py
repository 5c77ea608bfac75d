"""JSON settings overlays (the files SWITCHYARD_CONFIG names) that calibration commands write."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import typer

from switchyard.core.jsonsafe import loads_limited


def read_overlay(path: Path) -> dict[str, Any]:
    """The overlay at ``path`` ({} when absent); a file that is not a JSON object is refused
    (``typer.BadParameter``) and left untouched."""
    if not path.exists():
        return {}
    if not path.is_file():
        raise typer.BadParameter(f"{path} is not a regular file; not overwritten")
    try:
        data = loads_limited(path.read_text(encoding="utf-8") or "{}")
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, nested too deeply
        raise typer.BadParameter(f"{path} is not a JSON settings file; not overwritten") from exc
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{path} does not hold a JSON object; not overwritten")
    return data


def same_file(a: Path, b: Path) -> bool:
    """``a`` and ``b`` are one file (the same path once links resolve, or the same inode):
    an output that is the input would be erased before it is read."""
    try:
        return a.resolve() == b.resolve() or (b.exists() and a.exists() and a.samefile(b))
    except OSError:
        return False


def writable_target(path: Path, what: str) -> Path:
    """``path`` resolved (a link is written through) once it is known to be writable: its
    folder is made and a file created and removed in it; a directory, a read-only file or a
    folder that cannot be written is refused (``typer.BadParameter``) before any work."""
    real = path.resolve()
    if real.is_dir():
        raise typer.BadParameter(f"{what} {path} is a directory; name a file")
    if real.exists() and not real.is_file():  # a device or a pipe: never replaced, never read
        raise typer.BadParameter(f"{what} {path} is not a regular file")
    if real.exists() and not real.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise typer.BadParameter(f"{what} {path} is read-only; not overwritten")
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=real.parent, prefix=f".{real.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise typer.BadParameter(f"{what} {path} cannot be written ({exc.strerror or exc})") from exc
    return real


def merge_overlay(path: Path, section: str, updates: dict[str, Any]) -> None:
    """Merge ``updates`` into ``{section: {...}}`` of the overlay at ``path`` (a dict value is
    merged one level down, so other keys of a per-intent table survive), replacing the file in
    one step: a reader never sees half of it. A link is written through; the file keeps its
    permissions (an overlay may hold secrets: a new one is the owner's only) and a read-only
    one is refused."""
    real = writable_target(path, "the overlay")
    data = read_overlay(real)
    merged = dict(data.get(section)) if isinstance(data.get(section), dict) else {}
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    data[section] = merged
    mode = stat.S_IMODE(real.stat().st_mode) if real.exists() else None
    fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=2) + "\n")
        if mode is not None:  # a new overlay stays mkstemp's owner-only 0600
            os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
