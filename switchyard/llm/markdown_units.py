"""Split help-center markdown into the units an extractive answer may quote, whole.

A unit is a sentence of a paragraph, a list item, or a table row (rendered as one line with its
column headers). Sentences are cut only outside code spans, links and emphasis, so a quoted unit
never carries half of a ``**bold**`` or a dangling backtick; list markers and numbers are dropped,
because a picked item stands alone in the answer. Headings, breadcrumbs and fenced code are
structure, not answers, and are skipped.

``markdown_problems`` is the check the answers are held to (and the tests use).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

UnitKind = Literal["sentence", "item", "row"]
MIN_UNIT_CHARS = 25

_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+(.*)$")
_TABLE_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
# Spans a sentence boundary must never fall inside.
_PROTECTED = re.compile(
    r"`[^`\n]*`"  # code span
    r"|\[[^\]\n]*\]\([^)\n]*\)"  # link
    r"|\*\*[^*\n]+?\*\*"  # bold
    r"|(?<![*\w])\*[^*\n]+?\*(?![*\w])"  # italic
)
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[*`])")
# Words whose trailing period does not end a sentence.
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "approx.", "incl.", "no.", "min.", "max.")


@dataclass(frozen=True)
class Unit:
    kind: UnitKind
    text: str


def _is_breadcrumb(line: str) -> bool:
    """The ``Title > Section`` line chunking puts on top of each passage (first line only:
    elsewhere "Settings > Webhooks" is a menu path inside a sentence)."""
    return " > " in line and not line.rstrip().endswith((".", "!", "?", ":"))


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one paragraph, never cut inside a protected span or after an abbreviation."""
    protected = [m.span() for m in _PROTECTED.finditer(paragraph)]
    cuts = [0]
    for m in _BOUNDARY.finditer(paragraph):
        at = m.start()
        if any(start < at < end for start, end in protected):
            continue
        if paragraph[:at].lower().endswith(_ABBREVIATIONS):
            continue
        cuts.append(m.end())
    cuts.append(len(paragraph))
    pieces = (paragraph[a:b].strip() for a, b in zip(cuts, cuts[1:], strict=False))
    return [p for p in pieces if p]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table_rows(lines: list[str]) -> list[str]:
    """Body rows as one line each: ``label — Header: value; Header: value``."""
    header: list[str] = []
    body = lines
    if len(lines) >= 2 and _TABLE_SEPARATOR.match(lines[1].strip()):
        header, body = _cells(lines[0]), lines[2:]
    rows = []
    for line in body:
        cells = _cells(line)
        if not any(cells):
            continue
        if header and len(header) == len(cells):
            rest = "; ".join(f"{h}: {c}" if h else c for h, c in zip(header[1:], cells[1:], strict=True) if c)
            rows.append(f"{cells[0]} — {rest}" if rest else cells[0])
        else:  # a chunk that starts mid-table has no header row
            rows.append("; ".join(c for c in cells if c))
    return rows


def markdown_units(text: str, min_chars: int = MIN_UNIT_CHARS) -> list[Unit]:
    """The quotable units of ``text`` in reading order (short fragments dropped)."""
    units: list[Unit] = []
    paragraph: list[str] = []
    item: list[str] | None = None
    table: list[str] = []
    in_fence = False

    def flush() -> None:
        nonlocal item
        if paragraph:
            units.extend(Unit("sentence", s) for s in split_sentences(" ".join(paragraph)))
            paragraph.clear()
        if item is not None:
            units.append(Unit("item", " ".join(item)))
            item = None
        if table:
            units.extend(Unit("row", r) for r in _table_rows(table))
            table.clear()

    for number, raw in enumerate(text.splitlines()):
        line = raw.strip()
        if line.startswith("```"):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if not line or line.startswith("#") or (number == 0 and _is_breadcrumb(line)):
            flush()
            continue
        if line.startswith("|"):
            if not table:
                flush()
            table.append(line)
            continue
        if table:
            flush()
        marker = _ITEM.match(raw)
        if marker:
            flush()
            item = [marker.group(1).strip()]
        elif item is not None:
            item.append(line)  # a wrapped list item continues on the next line
        else:
            paragraph.append(line)
    flush()
    return [u for u in units if len(u.text) >= min_chars]


def _without_code_spans(text: str) -> str:
    return re.sub(r"`[^`\n]*`", "", text)


def markdown_problems(text: str) -> list[str]:
    """What is wrong with ``text`` as markdown: unbalanced markup, stray list markers."""
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        bare = _without_code_spans(line)
        if "`" in bare:
            problems.append(f"line {number}: unbalanced backtick")
        if bare.count("**") % 2:
            problems.append(f"line {number}: unbalanced **")
        if len(re.findall(r"(?<!\*)\*(?!\*)", bare)) % 2:
            problems.append(f"line {number}: unbalanced *")
        if bare.count("[") != bare.count("]") or bare.count("](") > bare.count(")"):
            problems.append(f"line {number}: unbalanced link or citation brackets")
        if re.search(r"[.!?:\]]\s+(?:\d{1,3}[.)]|[-*+])\s+\S", bare):
            problems.append(f"line {number}: a list marker in the middle of a sentence")
        if re.match(r"\s*\*\*?[:;,.]", bare):
            problems.append(f"line {number}: starts with the tail of an emphasis")
    return problems
