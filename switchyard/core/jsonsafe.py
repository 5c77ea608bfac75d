"""JSON from untrusted input without recursion blow-ups.

``json.loads`` recurses once per nesting level: 1,000 levels raise ``RecursionError`` (a 500 in
the service, a crashed batch in the CLI), far more can exhaust the C stack. ``nesting_depth``
scans bracket depth first, linearly and without recursion, ignoring brackets inside strings,
so callers can refuse deep documents before they reach the parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

DEFAULT_MAX_DEPTH = 64

# Only the characters that change depth or string state; everything else is skipped in C.
_SPECIAL_STR = re.compile(r'[\[\]{}"\\]')
_SPECIAL_BYTES = re.compile(rb'[\[\]{}"\\]')
_OPEN, _CLOSE, _QUOTE, _BACKSLASH = frozenset("[{"), frozenset("]}"), '"', "\\"


class JsonLimitError(ValueError):
    """The document is nested deeper than allowed (or too deep for the parser)."""


def nesting_depth(text: str | bytes, stop_above: int | None = None) -> int:
    """Maximum bracket depth outside strings; returns early once it exceeds ``stop_above``."""
    opens = text.count(b"[" if isinstance(text, bytes) else "[") + text.count(
        b"{" if isinstance(text, bytes) else "{")
    if stop_above is not None and opens <= stop_above:
        return opens  # cannot be deeper than the number of openers: skip the scan
    special = _SPECIAL_BYTES if isinstance(text, bytes) else _SPECIAL_STR
    depth = deepest = 0
    in_string = False
    skip_at = -1  # position of a character escaped by a backslash
    for match in special.finditer(text):
        pos = match.start()
        if pos == skip_at:
            continue
        ch = match.group()
        if isinstance(ch, bytes):
            ch = ch.decode()
        if in_string:
            if ch == _BACKSLASH:
                skip_at = pos + 1
            elif ch == _QUOTE:
                in_string = False
        elif ch == _QUOTE:
            in_string = True
        elif ch in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    return deepest
        elif ch in _CLOSE:
            depth = max(depth - 1, 0)
    return deepest


def check_depth(text: str | bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    if nesting_depth(text, stop_above=max_depth) > max_depth:
        raise JsonLimitError(f"JSON nested deeper than {max_depth} levels")


def loads_limited(text: str | bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """``json.loads`` that refuses documents nested deeper than ``max_depth``.

    Raises ``JsonLimitError`` or ``json.JSONDecodeError`` (both ``ValueError``)."""
    check_depth(text, max_depth)
    try:
        return json.loads(text)
    except RecursionError as exc:  # max_depth set above the interpreter's limit
        raise JsonLimitError("JSON nested too deeply to parse") from exc


def json_lines(raw: bytes, max_depth: int) -> Iterator[tuple[int, Any, str | None]]:
    """Each non-blank line of a JSONL file's bytes as ``(line number, object, None)``, or
    ``(line number, None, why it is not JSON)``: bad UTF-8, bad JSON, nesting past
    ``max_depth``, an integer past Python's 4,300 digits. One bad line never stops the rest."""
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield n, loads_limited(line.decode("utf-8"), max_depth), None
        except UnicodeDecodeError as exc:
            yield n, None, f"not valid UTF-8 (bad byte at offset {exc.start})"
        except json.JSONDecodeError as exc:
            yield n, None, f"not valid JSON ({exc.msg})"
        except ValueError as exc:  # nested too deeply; an integer past 4,300 digits
            yield n, None, f"not valid JSON here ({str(exc).split(';')[0][:120]})"
