"""Is an answer grounded in what it was given? A cheap check (no model call, any provider).

``check_grounding(answer, passages, facts, question)`` returns a :class:`Verdict`: ``grounded``,
``abstained`` (the answer only says it cannot tell, with no figures) or ``ungrounded``, with the
reasons and the scores behind it. The fast agent shows an ``ungrounded`` answer's replacement
instead: the extractive answer built from the same passages and facts (:func:`extractive_answer`,
what the offline model writes), recorded with ``answer_source="extractive"`` and never cached.

What is measured (:class:`Scores`):

- ``support``: the share of the answer's *new* content words (not stop words, not words of the
  question: echoing the question proves nothing) that occur in the evidence (passages, their
  titles, the facts and the action result). Words are lower-cased and crudely stemmed.
- ``phrase_support``: the share of the answer's content-word bigrams (two content words in a
  row, stop words skipped) that occur as such in the evidence. Plausible invented instructions
  ("go to Settings and click Change password") reuse evidence words but rarely its phrases.
- ``citations`` / ``invalid_citations``: ``[n]`` markers; one that names no passage is invented.
- ``unsupported_numbers``: figures in the answer (amounts, percentages, counts, "twelve") found
  nowhere in the evidence or the question.
- ``unsupported_identifiers``: URLs, e-mail addresses, domains, menu paths written with dots or
  slashes that the evidence does not contain verbatim (SmolLM2 invents "example.eu/reset").
- ``placeholders``: "[user_email_address]", "[EU_SITE_URL]", "<context>": a template or the
  prompt's markup, never an answer.
- ``contradictions``: a clause that names a fact (its key's words: "balance", "seats",
  "invoice") and states figures, none of which is that fact's value ("your balance is $75"
  when ``balance_due`` is 120.0). Dates are compared as dates (2025-08-01 = "August 1, 2025").

Rule (thresholds in :class:`GroundingConfig`, chosen on real SmolLM2 answers and offline
extractive answers: the 113 labelled answers in tests/llm/data/grounding_samples.json): ungrounded when there is a contradiction, an unsupported
figure, an invented citation, URL or identifier, a placeholder, fewer than 3 new content words
(and no figure), or ``support`` / ``phrase_support`` below their
minimum (lower minimums when the answer cites a real passage).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

Status = Literal["grounded", "abstained", "ungrounded"]

_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?", re.I)
_CITATION = re.compile(r"\[(\d{1,2})\]")
_STOP = frozenset("""
a an the and or but if then than to of in on for with at by from as is are was were be been being
do does did done doing i me my we our us you your yours it its this that these those there here
what which who whom how why when where can could would should will shall may might must have has
had having not no yes please thanks thank hi hello hey just also so very too any some all get gets
got want need needs like know tell about into out up down over under again more most such only own
same s t ll ve re d m don't doesn't can't won't isn't aren't it's you'll you're that's there's
let lets let's make sure able way sure one ones will go going use using used via each every
""".split())  # noqa: SIM905 - a word list reads better as text
# Meta text that is no claim: a "Sources:" block, an italic parenthetical note (the offline
# model's footer), citation lists.
_SOURCES_BLOCK = re.compile(r"\n\s*\**sources?\**:?\**\s*\n.*\Z", re.I | re.S)
_ITALIC_NOTE = re.compile(r"(?m)^\s*_\(.*?\)_\s*$", re.S)
_LIST_NUMBER = re.compile(r"(?m)^\s*\d{1,2}[.)]\s+")
_NUMBER = re.compile(r"(?<![\w.])[$€£]?\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?\s?(%|k\b|m\b)?", re.I)
_NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "ninety": 90, "hundred": 100,
}
_MONTHS = {m: i for i, m in enumerate(
    "january february march april may june july august september october november december".split(),  # noqa: SIM905
    start=1)}
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_TEXT_DATE = re.compile(
    r"\b(" + "|".join(_MONTHS) + r")\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b"
    r"|\b(\d{1,2})(?:st|nd|rd|th)?\s+(" + "|".join(_MONTHS) + r")\s+(\d{4})\b", re.I)
# A full stop ends a clause; a decimal point ("1687.84") does not.
_CLAUSE = re.compile(r"(?:(?<!\d)\.|\.(?!\d)|[;!?\n])+|,\s+|\s+(?:and|but|while|whereas)\s+")
_ABSTAIN = re.compile(
    r"\b(?:i\s+(?:do not|don't|cannot|can't|could not|couldn't)\s+(?:find|see|tell|answer|know|help)"
    r"|(?:not|isn't|is not)\s+(?:covered|mentioned|described|included)\s+(?:in|by)"
    r"|(?:no|not enough)\s+information\s+(?:about|on|in)"
    r"|(?:the\s+)?(?:passages|help[- ]cent(?:er|re)|articles?)\s+(?:do not|don't)\s+(?:say|cover|mention))",
    re.I)
# URLs, e-mail addresses, domains, paths, dotted/underscored identifiers: quoted, never invented.
_IDENTIFIER = re.compile(r"(?:https?://)?[A-Za-z0-9][\w-]*(?:[./@_][\w-]+)+/?")
# Template placeholders ("[user_email_address]", "{name}") and the prompt's own markup.
_PLACEHOLDER = re.compile(r"\[[A-Za-z]+_[A-Za-z_]+\]|\[[A-Z][A-Z_]{3,}\]|\{[a-z_]{3,}\}"
                          r"|</?(?:context|account|action|question)>", re.I)
# Words of a fact key that say nothing about which fact it is.
_GENERIC_KEY_WORDS = frozenset(
    "last next date number amount status as of on due used id note data masked name total count value".split())  # noqa: SIM905, E501


@dataclass(frozen=True)
class GroundingConfig:
    min_support: float = 0.75
    min_support_cited: float = 0.6
    min_phrase_support: float = 0.4
    min_phrase_support_cited: float = 0.3
    # Fewer new content words than this (and no figure) is no answer at all.
    min_new_words: int = 3
    # Answers with fewer new content words / bigrams than this are judged on the other score only.
    min_words_for_support: int = 3
    min_bigrams_for_phrases: int = 3
    # Numbers up to this value written as list numbering or "step 2" are not figures.
    ignore_numbers_upto: float = 1


DEFAULT_CONFIG = GroundingConfig()


@dataclass(frozen=True)
class Scores:
    support: float | None
    phrase_support: float | None
    new_words: int
    bigrams: int
    citations: tuple[int, ...]
    invalid_citations: tuple[int, ...]
    unsupported_numbers: tuple[str, ...]
    contradictions: tuple[str, ...]
    unsupported_identifiers: tuple[str, ...] = ()
    placeholders: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    status: Status
    reasons: tuple[str, ...]
    scores: Scores
    unsupported_words: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Show the answer as it is (grounded, or an honest "I can't tell")."""
        return self.status != "ungrounded"

    def to_dict(self) -> dict[str, Any]:
        s = self.scores
        return {"status": self.status, "reasons": list(self.reasons),
                "support": s.support, "phrase_support": s.phrase_support,
                "new_words": s.new_words, "bigrams": s.bigrams, "citations": list(s.citations),
                "invalid_citations": list(s.invalid_citations),
                "unsupported_numbers": list(s.unsupported_numbers),
                "contradictions": list(s.contradictions),
                "unsupported_identifiers": list(s.unsupported_identifiers),
                "placeholders": list(s.placeholders)}


# -- text helpers -------------------------------------------------------------------------------

def stem(word: str) -> str:
    """Crude suffix stripping (the offline model's): "resets"/"reset", "invoices"/"invoice"."""
    for suffix in ("ing", "ies", "es", "ed", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def content_stems(text: str) -> list[str]:
    """Stems of the content words of ``text`` in order (stop words and bare numbers dropped)."""
    out = []
    for w in _WORD.findall(text.lower().replace("’", "'")):
        if w in _STOP or w.isdigit():
            continue
        out.append(stem(w.split("'")[0]))
    return out


def _bigrams_of(text: str) -> set[tuple[str, str]]:
    grams: set[tuple[str, str]] = set()
    for line in re.split(r"[.!?\n]+", text):
        stems = content_stems(line)
        grams.update(zip(stems, stems[1:], strict=False))
    return grams


def claim_text(answer: str) -> str:
    """The answer without meta text: citations, a trailing "Sources:" block, italic notes."""
    text = _SOURCES_BLOCK.sub("", answer)
    text = _ITALIC_NOTE.sub("", text)
    return _CITATION.sub(" ", text)


@dataclass(frozen=True)
class Figure:
    raw: str
    value: float | date


def figures(text: str) -> list[Figure]:
    """Amounts, counts, percentages and dates in ``text`` (list numbering excluded)."""
    text = _LIST_NUMBER.sub(" ", text)
    out: list[Figure] = []
    spans: list[tuple[int, int]] = []
    for m in _ISO_DATE.finditer(text):
        try:
            out.append(Figure(m.group(0), date(int(m.group(1)), int(m.group(2)), int(m.group(3)))))
            spans.append(m.span())
        except ValueError:
            pass
    for m in _TEXT_DATE.finditer(text):
        g = m.groups()
        month, day, year = (g[0], g[1], g[2]) if g[0] else (g[4], g[3], g[5])
        try:
            out.append(Figure(m.group(0), date(int(year), _MONTHS[month.lower()], int(day))))
            spans.append(m.span())
        except ValueError:
            pass
    for m in _NUMBER.finditer(text):
        # The digits' own start: the match may begin with a currency sign or a space before a
        # date's year ("date: 2026-11-01" holds a date, not the number 2026).
        if any(a <= m.start(1) < b for a, b in spans):
            continue
        value = float(m.group(1).replace(",", "") + ("." + m.group(2) if m.group(2) else ""))
        scale = {"k": 1e3, "m": 1e6}.get((m.group(3) or "").lower(), 1.0)
        out.append(Figure(m.group(0).strip(), value * scale))
    for m in re.finditer(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", text, re.I):
        out.append(Figure(m.group(0), float(_NUMBER_WORDS[m.group(1).lower()])))
    return out


def _same(a: float | date, b: float | date) -> bool:
    if isinstance(a, date) or isinstance(b, date):
        return a == b
    return abs(a - b) < 0.005 * max(1.0, abs(b))


# -- evidence -----------------------------------------------------------------------------------

def _passage_text(p: str | Mapping[str, Any]) -> str:
    if isinstance(p, str):
        return p
    return " \n".join(str(p.get(k) or "") for k in ("title", "text"))


def _fact_items(facts: Mapping[str, Any] | Iterable[str] | None) -> list[tuple[str, str]]:
    """(key, value) pairs: a mapping's items, or ``key: value`` lines of tool output."""
    if not facts:
        return []
    if isinstance(facts, Mapping):
        return [(str(k), str(v)) for k, v in facts.items() if v is not None and str(v) != ""]
    items = []
    for text in facts:
        for line in str(text).splitlines():
            key, sep, value = line.partition(":")
            if sep and value.strip() and len(key) < 40:
                items.append((key.strip(), value.strip()))
            elif line.strip():
                items.append(("", line.strip()))
    return items


@dataclass(frozen=True)
class Evidence:
    text: str
    stems: frozenset[str]
    bigrams: frozenset[tuple[str, str]]
    figures: tuple[Figure, ...]
    facts: tuple[tuple[frozenset[str], str, tuple[Figure, ...]], ...]  # key stems, key, values
    passages: int


def evidence_of(passages: Sequence[str | Mapping[str, Any]],
                facts: Mapping[str, Any] | Iterable[str] | None = None,
                question: str = "") -> Evidence:
    items = _fact_items(facts)
    fact_text = "\n".join(f"{k.replace('_', ' ')}: {v}" if k else v for k, v in items)
    text = "\n\n".join([*(_passage_text(p) for p in passages), fact_text])
    keyed = []
    for key, value in items:
        words = frozenset(stem(w) for w in re.split(r"[_\W]+", key.lower())
                          if w and w not in _GENERIC_KEY_WORDS)
        values = tuple(figures(value))
        if words and values:
            keyed.append((words, key, values))
    return Evidence(text=text, stems=frozenset(content_stems(text)),
                    bigrams=frozenset(_bigrams_of(text)),
                    figures=tuple(figures(text) + figures(question)), facts=tuple(keyed),
                    passages=len(passages))


# -- the check ----------------------------------------------------------------------------------

def _contradictions(claims: str, evidence: Evidence) -> list[str]:
    found = []
    for clause in _CLAUSE.split(claims):
        clause_figures = figures(clause)
        if not clause_figures:
            continue
        stems = set(content_stems(clause))
        named = [(key, values) for words, key, values in evidence.facts if words <= stems]
        if not named:
            continue
        allowed = [v for _, values in named for v in values]
        for fig in clause_figures:
            kinds_match = [v for v in allowed if isinstance(v.value, date) == isinstance(fig.value, date)]
            if kinds_match and not any(_same(fig.value, v.value) for v in kinds_match):
                keys = ", ".join(k for k, _ in named)
                found.append(f"{fig.raw!r} where {keys} = "
                             + ", ".join(v.raw for _, vs in named for v in vs))
    return found


def check_grounding(answer: str, passages: Sequence[str | Mapping[str, Any]],
                    facts: Mapping[str, Any] | Iterable[str] | None = None, question: str = "",
                    config: GroundingConfig = DEFAULT_CONFIG) -> Verdict:
    """Judge ``answer`` against ``passages`` (numbered from 1 as shown to the model), ``facts``
    (the account snapshot, tool results, the action's result) and the ``question``."""
    evidence = evidence_of(passages, facts, question)
    claims = claim_text(answer)
    q_stems = set(content_stems(question))

    cited = tuple(sorted({int(n) for n in _CITATION.findall(answer)}))
    invalid = tuple(n for n in cited if not 1 <= n <= evidence.passages)
    valid_cite = any(1 <= n <= evidence.passages for n in cited)

    stems = content_stems(claims)
    new = [s for s in dict.fromkeys(stems) if s not in q_stems]
    unsupported_words = tuple(s for s in new if s not in evidence.stems)
    support = 1 - len(unsupported_words) / len(new) if new else None
    grams = _bigrams_of(claims)
    phrase_support = (sum(1 for g in grams if g in evidence.bigrams) / len(grams)) if grams else None

    unsupported_numbers = tuple(dict.fromkeys(
        f.raw for f in figures(claims)
        if not (isinstance(f.value, float) and f.value <= config.ignore_numbers_upto)
        and not any(_same(f.value, e.value) for e in evidence.figures
                    if isinstance(e.value, date) == isinstance(f.value, date))))
    contradictions = tuple(_contradictions(claims, evidence))
    evidence_low = (evidence.text + "\n" + question).lower()
    identifiers = tuple(dict.fromkeys(
        m.group(0).rstrip("./") for m in _IDENTIFIER.finditer(claims)
        if not re.fullmatch(r"[\d.,]+", m.group(0))  # 3.5, 1,200.00: figures, judged above
        and m.group(0).lower().rstrip("./").removeprefix("https://").removeprefix("http://")
        not in evidence_low))
    placeholders = tuple(dict.fromkeys(m.group(0) for m in _PLACEHOLDER.finditer(answer)))
    scores = Scores(support=None if support is None else round(support, 3),
                    phrase_support=None if phrase_support is None else round(phrase_support, 3),
                    new_words=len(new), bigrams=len(grams), citations=cited,
                    invalid_citations=invalid, unsupported_numbers=unsupported_numbers,
                    contradictions=contradictions, unsupported_identifiers=identifiers,
                    placeholders=placeholders)

    reasons: list[str] = []
    if contradictions:
        reasons.append("contradicts the facts: " + "; ".join(contradictions))
    if unsupported_numbers:
        reasons.append("figures not in the evidence: " + ", ".join(unsupported_numbers))
    if invalid:
        reasons.append("cites passages that do not exist: " + ", ".join(map(str, invalid)))
    if identifiers:
        reasons.append("URLs/addresses/identifiers not in the evidence: " + ", ".join(identifiers[:5]))
    if placeholders:
        reasons.append("template placeholders or prompt markup: " + ", ".join(placeholders[:5]))
    if _ABSTAIN.search(claims) and not figures(claims) and not contradictions:
        return Verdict("abstained", tuple(reasons) or ("says it cannot answer",), scores,
                       unsupported_words)
    min_support = config.min_support_cited if valid_cite else config.min_support
    min_phrases = config.min_phrase_support_cited if valid_cite else config.min_phrase_support
    if len(new) < config.min_new_words and not figures(claims):
        # "The answer is:", "Billing.", or the question said back: nothing to show.
        reasons.append(f"no content beyond the question's own words ({len(new)} new content "
                       f"words < {config.min_new_words})")
    if support is not None and len(new) >= config.min_words_for_support and support < min_support:
        reasons.append(f"support {support:.2f} < {min_support}: new words not in the evidence: "
                       + ", ".join(unsupported_words[:12]))
    if (phrase_support is not None and len(grams) >= config.min_bigrams_for_phrases
            and phrase_support < min_phrases):
        reasons.append(f"phrase support {phrase_support:.2f} < {min_phrases}")
    if not evidence.text.strip():
        reasons.append("no passages or facts to ground it in")
    return Verdict("ungrounded" if reasons else "grounded", tuple(reasons), scores,
                   unsupported_words)


# -- the replacement ----------------------------------------------------------------------------

def extractive_answer(question: str, passages: Sequence[Mapping[str, Any]],
                      account: Mapping[str, Any] | None = None, action: str = "") -> str:
    """What the offline model answers from the same material (its units, its rendering, its
    citations, numbered as the passages were retrieved), without its "offline model" footer."""
    from switchyard.llm.offline import extract_answer

    numbered = [{"n": str(i), "title": str(p.get("title", "")), "url": str(p.get("url", "")),
                 "text": str(p.get("text", ""))} for i, p in enumerate(passages, start=1)]
    rows = [f"{k.replace('_', ' ')}: {v}" for k, v in (account or {}).items() if v is not None]
    return extract_answer(question, numbered, account_rows=rows, action=action)
