"""Loading labelled routing data (the bundled splits or a user's own JSONL file)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from switchyard.core.domain import COMPLEXITIES, OUT_OF_SCOPE


@dataclass
class Example:
    text: str
    complexity: str
    intent: str
    requires_auth: bool = False
    tools_needed: list[str] = field(default_factory=list)
    in_scope: bool = True
    history: list[str] = field(default_factory=list)
    follow_up: bool = False


def iter_labeled(path: Path) -> Iterator[Example]:
    """The rows of a labelled JSONL file, read as they are needed (ValueError, with the line
    number, when a line is malformed). Only ``text`` and ``complexity`` are required.

    Rows without an intent get a per-complexity pseudo-intent, so a user's file with just
    text + complexity still trains a working router.
    """
    with Path(path).open(encoding="utf-8") as lines:
        yield from _rows(path, lines)


def _rows(path: Path, lines: Iterable[str]) -> Iterator[Example]:
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            text, complexity = str(d["text"]), str(d["complexity"]).lower()
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: need a JSON object with 'text' and 'complexity' ({exc})") from exc
        if complexity not in COMPLEXITIES:
            raise ValueError(f"{path}:{n}: complexity must be one of {COMPLEXITIES}, got {complexity!r}")
        in_scope = bool(d.get("in_scope", d.get("intent") != OUT_OF_SCOPE))
        intent = str(d.get("intent") or (OUT_OF_SCOPE if not in_scope else f"general_{complexity}"))
        history = [str(h) for h in d.get("history") or []]
        yield Example(
            text=text,
            complexity=complexity,
            intent=intent,
            requires_auth=bool(d.get("requires_auth", False)),
            tools_needed=[str(t) for t in d.get("tools_needed") or []],
            in_scope=in_scope,
            history=history,
            # Rows with history are follow-ups unless marked otherwise.
            follow_up=bool(d.get("follow_up", bool(history))),
        )


def load_labeled(path: Path) -> list[Example]:
    """Every row of a labelled JSONL file (see :func:`iter_labeled`); ValueError on the first
    malformed line, with its number."""
    return list(iter_labeled(path))


def files_hash(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()
