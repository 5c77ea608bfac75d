"""Cut a model's answer at its first repetition: a repeated sentence, a repeated word n-gram run,
or a run of repeated characters. Cheap (linear in the text, no model) and incremental: the same
scanner reads a whole answer (:func:`find_repetition`, :func:`cut_repetition`) or a stream of
chunks (:class:`RepetitionGuard`), and finds the same cut whatever the chunking.

Why: a small local model (SmolLM2-135M) falls into repeating one sentence until ``max_tokens``.
Sampling penalties make that rarer, never impossible, so the answer is also cut at its first
repetition, and such a call is not retried with a bigger budget.

Rules (thresholds in :class:`RepetitionConfig`), judged in reading order, first one wins:

- ``sentence``: a unit (sentence, line or list item) whose normalised words equal an earlier
  unit's (5+ words: at the 2nd occurrence; 2-4 words: at the 3rd), or a near copy of one of the
  last 40 units (6+ words, word-bigram Jaccard >= 0.7). Cut at the start of that unit.
- ``ngram``: ``ngram`` (10) consecutive words that already occurred (overlap allowed, so a short
  phrase looping without punctuation, "and the link and the link ...", is caught after
  ``ngram`` + its period words). Cut at the start of the second occurrence.
- ``chars``: a unit holding a 1-8 character string repeated 12+ times ("!!!!", "- - - -").

A unit ends at ``.``/``!``/``?`` followed by whitespace, or at a newline; one longer than
``max_unit_chars`` is split there, so a run-on is judged too. Citation markers (``[1]``) and list
numbering are ignored when units are compared, and numbers compare equal, so a template loop
("4. Click [5]", "5. Click [6]", ...) is caught too. A word or unit is judged only once it is complete
(the next character is known), which is what makes the result independent of the chunking.
Everything after a "Sources:" heading is a reference list (two passages of one article share a
title) and is not judged.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

RepetitionKind = Literal["sentence", "ngram", "chars"]

# A citation marker, or a word ("don't", "3.5", "help.example" are one word each).
_TOKEN = re.compile(r"\[\d+\]|[^\W_]+(?:['’.][^\W_]+)*")
_WORD_CONTINUES = ".'’"
_BOUNDARY = re.compile(r"[.!?]+[\"')\]*_]*[ \t]+|[ \t]*\n\s*")
_LIST_MARKER = re.compile(r"\s*(?:\d{1,3}|[A-Za-z])[.)]")
# A "Sources:" heading: what follows is a reference list (titles may repeat), not judged.
_REFERENCES_HEAD = re.compile(r"\**(?:sources|references)\**:?\**", re.I)
_CHAR_RUN = re.compile(r"(\S.{0,7}?)\1{11,}", re.S)
_TRAILING_JUNK = re.compile(
    r"(?:[\s,;\-–—*]|\b(?:and|or|but|then|so|to|the|a|an)\b|(?<!\S)\d{1,3}[.)])+$", re.I)


@dataclass(frozen=True)
class RepetitionConfig:
    ngram: int = 10
    min_unit_words: int = 5
    min_short_words: int = 2
    short_unit_repeats: int = 3
    near_dup_min_words: int = 6
    near_dup_jaccard: float = 0.7
    near_dup_window: int = 40
    max_unit_chars: int = 600


DEFAULT_CONFIG = RepetitionConfig()


@dataclass(frozen=True)
class Repetition:
    """Where the text starts repeating. ``cut_at``: the repetition's start; ``first_at``: the
    earlier occurrence's; ``floor``: the end of the last whole unit before the cut (the tidy-up
    in :func:`kept_text` never goes below it)."""

    kind: RepetitionKind
    cut_at: int
    first_at: int
    floor: int
    repeated: str


def kept_text(text: str, hit: Repetition | None) -> str:
    """``text`` cut at ``hit`` (unchanged when None), without a dangling "and", comma or space."""
    if hit is None:
        return text
    head, tail = text[: hit.floor], text[hit.floor: hit.cut_at]
    return head + _TRAILING_JUNK.sub("", tail) if tail.strip() else head


def _norm(token: str) -> str:
    """Numbers and citation markers compare equal ("Click [5]" repeats "Click [4]")."""
    if token.startswith("["):
        return "[#]"
    return "#" if token.isdigit() else token.lower()


def _unit_key(words: list[str]) -> tuple[str, ...]:
    start = 0
    while start < len(words) and words[start] == "#":
        start += 1  # list numbering is not content
    key = tuple(w for w in words[start:] if w != "[#]")
    return key if key else tuple(words[start:])


def _bigrams(key: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    return frozenset(zip(key, key[1:], strict=False))


@dataclass
class _Scanner:
    config: RepetitionConfig
    text: str = ""
    final: bool = False
    hit: Repetition | None = None
    word_pos: int = 0
    words: list[str] = field(default_factory=list)
    word_starts: list[int] = field(default_factory=list)
    ngrams: dict[tuple[str, ...], int] = field(default_factory=dict)
    unit_start: int = 0
    unit_ends: list[int] = field(default_factory=list)  # rstripped ends of judged units
    unit_seen: dict[tuple[str, ...], list[int]] = field(default_factory=dict)
    recent: list[tuple[frozenset[tuple[str, str]], int]] = field(default_factory=list)
    references: bool = False  # past a "Sources:" heading: nothing more is judged

    def feed(self, chunk: str, final: bool = False) -> None:
        if self.hit is not None or self.final:
            return
        self.text += chunk
        self.final = final
        while self.hit is None and not self.references:
            word = self._next_word()
            unit = self._next_unit()
            if word is not None and (unit is None or word.end() <= unit[0]):
                self._judge_word(word)
            elif unit is not None:
                self._judge_unit(*unit)
            else:
                return

    # -- next complete word / unit ------------------------------------------------------------
    def _next_word(self) -> re.Match[str] | None:
        m = _TOKEN.search(self.text, self.word_pos)
        if m is None:
            return None
        rest = len(self.text) - m.end()
        if not self.final and (rest == 0 or (rest == 1 and self.text[m.end()] in _WORD_CONTINUES)):
            return None  # the next chunk may continue this word
        return m

    def _next_unit(self) -> tuple[int, int] | None:
        """(end of the unit's text, start of the next unit), once it is complete."""
        start, limit = self.unit_start, self.config.max_unit_chars
        if start >= len(self.text):
            return None
        m = _BOUNDARY.search(self.text, start)
        while m is not None and _LIST_MARKER.fullmatch(self.text, start, m.start() + 1):
            m = _BOUNDARY.search(self.text, m.end())  # "2. Click ...": the number is no sentence
        if m is not None and m.start() - start <= limit:
            if m.start() == start:  # leading whitespace: skip it
                self.unit_start = m.end()
                return self._next_unit()
            return m.start() + len(m.group(0).rstrip()), m.end()
        if len(self.text) - start > limit:
            return start + limit, start + limit
        if self.final:
            return len(self.text), len(self.text)
        return None

    # -- rules --------------------------------------------------------------------------------
    def _floor(self, at: int) -> int:
        i = bisect.bisect_right(self.unit_ends, at)
        return self.unit_ends[i - 1] if i else 0

    def _judge_word(self, m: re.Match[str]) -> None:
        self.word_pos = m.end()
        self.words.append(_norm(m.group(0)))
        self.word_starts.append(m.start())
        n, i = self.config.ngram, len(self.words)
        if i < n:
            return
        gram = tuple(self.words[i - n:])
        first = self.ngrams.setdefault(gram, i - n)
        if first != i - n:
            cut = self.word_starts[i - n]
            self.hit = Repetition("ngram", cut, self.word_starts[first], self._floor(cut),
                                  " ".join(gram))

    def _judge_unit(self, end: int, next_start: int) -> None:
        start = self.unit_start
        body = self.text[start:end]
        if _REFERENCES_HEAD.fullmatch(body.strip()):
            self.references = True
            self.unit_ends.append(end)
            self.unit_start = next_start
            return
        found = self._unit_repeat(body, start)
        if found is not None:
            kind, cut, first, repeated = found
            self.hit = Repetition(kind, cut, first, self._floor(cut), repeated)
            return
        while end > start and self.text[end - 1].isspace():
            end -= 1
        self.unit_ends.append(end)
        self.unit_start = next_start

    def _unit_repeat(self, body: str, start: int) -> tuple[RepetitionKind, int, int, str] | None:
        """(kind, cut, first occurrence, repeated text) when this unit repeats."""
        cfg = self.config
        run = _CHAR_RUN.search(body)
        if run is not None:  # keep one copy of the repeated string
            first = start + run.start()
            return "chars", first + len(run.group(1)), first, run.group(1)
        key = _unit_key([_norm(t) for t in _TOKEN.findall(body)])
        if len(key) < cfg.min_short_words:
            return None
        starts = self.unit_seen.setdefault(key, [])
        starts.append(start)
        limit = 2 if len(key) >= cfg.min_unit_words else cfg.short_unit_repeats
        if len(starts) >= limit:
            return "sentence", start, starts[0], " ".join(key)
        if len(key) >= cfg.near_dup_min_words:
            grams = _bigrams(key)
            for other, other_start in self.recent[-cfg.near_dup_window:]:
                if len(grams & other) / len(grams | other) >= cfg.near_dup_jaccard:
                    return "sentence", start, other_start, " ".join(key)
            self.recent.append((grams, start))
        return None

    # -- what a stream may show ---------------------------------------------------------------
    def safe_end(self) -> int:
        """Whole judged units, minus the last ``ngram`` - 1 words (a later n-gram repetition may
        start there); never any part of a repetition."""
        if self.hit is not None:
            return len(kept_text(self.text, self.hit))
        if self.references:
            return len(self.text)
        limit = self.unit_ends[-1] if self.unit_ends else 0
        hold = len(self.words) - self.config.ngram + 1
        if hold < 0:
            return 0
        if hold < len(self.words):
            limit = min(limit, self.word_starts[hold])
        return self._floor(limit)


def find_repetition(text: str, config: RepetitionConfig = DEFAULT_CONFIG) -> Repetition | None:
    """The first repetition in ``text``, or None."""
    scanner = _Scanner(config)
    scanner.feed(text, final=True)
    return scanner.hit


def cut_repetition(text: str, config: RepetitionConfig = DEFAULT_CONFIG
                   ) -> tuple[str, Repetition | None]:
    """``text`` up to its first repetition (tidied), and that repetition (None: unchanged)."""
    hit = find_repetition(text, config)
    return kept_text(text, hit), hit


class RepetitionGuard:
    """Streamed text in, text that is safe to show out; stops at the first repetition.

    ``feed(chunk)`` returns newly releasable text (whole units, never part of a repetition);
    once :attr:`stopped`, stop reading (closing the response makes llama-server stop
    generating). ``finish()`` releases the rest at the end of the stream. What was released in
    total equals ``cut_repetition(everything fed)[0]``.
    """

    def __init__(self, config: RepetitionConfig = DEFAULT_CONFIG) -> None:
        self._scanner = _Scanner(config)
        self._released = 0

    @property
    def hit(self) -> Repetition | None:
        return self._scanner.hit

    @property
    def stopped(self) -> bool:
        return self._scanner.hit is not None

    @property
    def text(self) -> str:
        """Everything released so far."""
        return self._scanner.text[: self._released]

    def feed(self, chunk: str) -> str:
        if self._scanner.final:
            raise RuntimeError("feed() after finish()")
        self._scanner.feed(chunk)
        return self._release(self._scanner.safe_end())

    def finish(self) -> str:
        scanner = self._scanner
        if not scanner.final and scanner.hit is None:
            scanner.feed("", final=True)
        scanner.final = True
        end = len(kept_text(scanner.text, scanner.hit))
        return self._release(end)

    def _release(self, end: int) -> str:
        if end <= self._released:
            return ""
        out = self._scanner.text[self._released: end]
        self._released = end
        return out


def guard_stream(chunks: Iterable[str], config: RepetitionConfig = DEFAULT_CONFIG
                 ) -> tuple[str, Repetition | None]:
    """Read ``chunks`` until the first repetition (the rest is never read): kept text, repetition."""
    guard = RepetitionGuard(config)
    parts: list[str] = []
    for chunk in chunks:
        parts.append(guard.feed(chunk))
        if guard.stopped:
            break
    parts.append(guard.finish())
    return "".join(parts), guard.hit
