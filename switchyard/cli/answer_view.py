"""How a routed answer is shown in a terminal: a short excerpt and where it came from.

The excerpt is cut at whole markdown units (sentences, list items, table rows), never mid-markup,
so it renders cleanly; the sources are the ones the answer cites when it lists them (the offline
model does), else the retrieved articles.
"""

from __future__ import annotations

import re
from typing import Any

from switchyard.llm.markdown_units import Unit, markdown_units

_FOOTER = re.compile(r"\n*_\(switchyard offline model[^\n]*\)_\s*$")
_SOURCES_HEAD = "\n\nSources:\n"
_CITED = re.compile(r"^\[(\d+)\]\s+(.+)$")


def split_answer(answer: str) -> tuple[str, list[str]]:
    """(body, cited source lines): the offline model's footer and ``Sources:`` list removed.

    Only the ``[n] Title (url)`` lines right under ``Sources:`` are sources; an expert answer
    continues after them (plan, check), which stays out of the body shown.
    """
    body = _FOOTER.sub("", answer.strip())
    cited: list[str] = []
    if _SOURCES_HEAD in body:
        body, _, tail = body.partition(_SOURCES_HEAD)
        for line in tail.splitlines():
            if not _CITED.match(line):
                break
            cited.append(line.strip())
    return body.strip(), cited


def excerpt(body: str, max_chars: int = 360, min_units: int = 2) -> str:
    """The first whole units of ``body`` (sentences, list items, table rows) up to about
    ``max_chars``, as a paragraph and bullets; `` …`` marks that more was left out."""
    units = markdown_units(body, min_chars=1)
    taken: list[Unit] = []
    used = 0
    for unit in units:
        if len(taken) >= min_units and used + len(unit.text) > max_chars:
            break
        taken.append(unit)
        used += len(unit.text)
    blocks: list[tuple[bool, list[str]]] = []  # (is prose, lines)
    for unit in taken:
        prose = unit.kind == "sentence"
        line = unit.text if prose else f"- {unit.text}"
        if blocks and blocks[-1][0] == prose:
            blocks[-1][1].append(line)
        else:
            blocks.append((prose, [line]))
    text = "\n\n".join((" " if prose else "\n").join(lines) for prose, lines in blocks)
    return text + (" …" if len(taken) < len(units) else "")


def sources_for(record: dict[str, Any], cited: list[str]) -> list[str]:
    """Cited sources if the answer lists them (two passages of one article on one line), else
    the distinct retrieved articles."""
    if cited:
        merged: dict[str, list[str]] = {}
        for line in cited:
            m = _CITED.match(line)
            assert m is not None  # split_answer keeps only matching lines
            merged.setdefault(m.group(2), []).append(f"[{m.group(1)}]")
        return [f"{''.join(numbers)} {rest}" for rest, numbers in merged.items()]
    seen: dict[str, str] = {}
    for source in record.get("sources") or []:
        url = source.get("url") or source.get("source") or ""
        seen.setdefault(url, f"{source.get('title') or source.get('source')} ({url})")
    return list(seen.values())
