"""JSON settings overlays (the files SWITCHYARD_CONFIG names) that calibration commands write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer


def read_overlay(path: Path) -> dict[str, Any]:
    """The overlay at ``path`` ({} when absent); a file that is not a JSON object is refused
    (``typer.BadParameter``) and left untouched."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"{path} is not a JSON settings file; not overwritten") from exc
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{path} does not hold a JSON object; not overwritten")
    return data


def merge_overlay(path: Path, section: str, updates: dict[str, Any]) -> None:
    """Merge ``updates`` into ``{section: {...}}`` of the overlay at ``path`` (a dict value is
    merged one level down, so other keys of a per-intent table survive), replacing the file in
    one step: a reader never sees half of it."""
    data = read_overlay(path)
    merged = dict(data.get(section)) if isinstance(data.get(section), dict) else {}
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    data[section] = merged
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
