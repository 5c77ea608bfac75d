"""Verification after the nearest-neighbour search: do the two questions ask the same thing?

Cosine similarity says two questions are about the same topic, not that they ask the same thing.
On real question pairs nobody here wrote (``../shared/calibration``) the close non-duplicates that
the fact guard (:mod:`switchyard.cache.guard`) lets through differ in three general ways, which
this module checks after the guard:

* **focus**: "How did Kung Fu originate?" vs "Where ...", "Why did carrier pigeons become
  extinct?" vs "When ...". How / why / when / where / who (and how much / how many) ask for
  different answers. "What" and "which" are left out on purpose: "what is the best way to X"
  and "how do I X" are the same question;
* **roles swapped**: "import from Canada and sell in India" vs "from India ... in Canada",
  "What does LeBron James think of Kobe Bryant?" and the reverse. Two content words exchange
  places around a word that stays between them. A phrase moved to the front ("For my workspace,
  how do I enable SSO?") is not a swap;
* **opposite meaning** in general English (for/against, best/worst, men/women, maximize/minimize),
  complementing the guard's product vocabulary.

No weights are fitted. During development a logistic pair classifier over content-word coverage,
word order, focus and qualifier features, fitted with 5-fold cross-validation on the calibration
pairs, did no better than these rules plus the similarity threshold, so it is not shipped: the
rules have nothing to overfit. Only the threshold is chosen on data (``benchmarks/fit_cache_threshold.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from switchyard.cache.guard import normalize_text

_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

# Function words and question scaffolding: they do not decide what is being asked.
_STOP_WORDS = """a an the and or but if then so of to in on at by for with from into onto about as is are
    was were be been being am do does did doing done have has had having i me my mine myself we us
    our ours you your yours he him his she her it its they them their theirs this that these those
    there here what which who whom whose how why when where can could should would will shall may
    might must some any anyone someone something one ones thing things way ways get got getting
    i'm i've i'd you're it's what's whats don't doesn't ever really very just also still even
    much many more most other another such own same than too not no please know tell"""
_STOP = frozenset(_STOP_WORDS.split())

# Question words whose answers differ. "what"/"which" are compatible with everything, and "where"
# counts as "how" ("where can I see my invoices" = "how do I see my invoices").
_FOCUS_WORDS = {"how": "how", "where": "how", "why": "why", "when": "when", "who": "who"}
_FOCUS_RE = re.compile(
    r"\b(how|why|when|where|who)\s+(?:do|does|did|is|are|was|were|can|could|should|would|will"
    r"|shall|may|might|must|has|have|had|to)\b"
)
_PASSIVE_RE = re.compile(r"\b\w+(?:ed|en)\s+by\b", re.IGNORECASE)
_HOW_MUCH = re.compile(r"\bhow (?:much|many|long|often|far|old|big)\b")

# General-English opposites (the guard holds the product's own: enable/disable, upgrade/...).
_OPPOSITES: tuple[tuple[frozenset[str], frozenset[str]], ...] = tuple(
    (frozenset(a.split()), frozenset(b.split()))
    for a, b in (
        ("for", "against"),
        ("maximize maximise maximum", "minimize minimise minimum"),
        ("best", "worst"),
        ("man men male boy boys", "woman women female girl girls"),
        ("pros advantages", "cons disadvantages"),
        ("increase increases increasing", "decrease decreases decreasing"),
        ("good", "bad"),
        ("positive", "negative"),
        ("rich", "poor"),
        ("love", "hate"),
        ("win", "lose"),
        ("buy", "sell"),
        ("true", "false"),
        ("legal", "illegal"),
        ("husband", "wife"),
        ("mother", "father"),
    )
)


def _stem(word: str) -> str:
    """Crude, deterministic suffix folding ("networks" = "network", "learning" = "learn")."""
    for suffix in ("ies", "ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            base = word[: -len(suffix)]
            return base + "y" if suffix == "ies" else base
    return word


@dataclass(frozen=True)
class _Parsed:
    words: frozenset[str]  # raw lower-case words
    seq: tuple[str, ...]  # all words, stemmed, in order
    content: tuple[str, ...]  # stemmed content words, in order
    focus: str | None


@lru_cache(maxsize=8192)
def _parse(text: str) -> _Parsed:
    norm = normalize_text(text)
    raw = _WORD_RE.findall(norm)
    seq = tuple(_stem(w) for w in raw)
    content = tuple(s for w, s in zip(raw, seq, strict=True) if w not in _STOP)
    focus: str | None = None
    if _HOW_MUCH.search(norm):
        focus = "how much/many"
    else:
        # The asking word is a wh-word followed by an auxiliary ("why did", "when will");
        # "when I add users, how are seats billed?" asks how, not when.
        m = _FOCUS_RE.search(norm)
        focus = _FOCUS_WORDS[m.group(1)] if m else None
    return _Parsed(frozenset(raw), seq, content, focus)


def _contexts(words: tuple[str, ...], i: int) -> set[tuple[str, str]]:
    prev = words[i - 1] if i else "^"
    nxt = words[i + 1] if i + 1 < len(words) else "$"
    return {("prev", prev), ("next", nxt)}


def _swapped_roles(a: _Parsed, b: _Parsed) -> tuple[str, str] | None:
    """Two content words that exchange slots: x sits where y sat (same neighbour word) and
    y where x sat, and their order flips. "diesel is used in petrol engine" / "petrol is used in
    a diesel engine" swaps; "error ERR-401 mean" / "meaning of the ERR-401 error" does not."""
    shared = [w for w in a.content if a.seq.count(w) == 1 and b.seq.count(w) == 1]
    for i, x in enumerate(shared):
        for y in shared[i + 1 :]:
            ax, ay, bx, by = a.seq.index(x), a.seq.index(y), b.seq.index(x), b.seq.index(y)
            if (ax - ay) * (bx - by) >= 0:
                continue
            # A word kept between the two in both texts: an exchange, not a moved phrase.
            lo_a, hi_a = sorted((ax, ay))
            lo_b, hi_b = sorted((bx, by))
            if not set(a.content) & set(a.seq[lo_a + 1 : hi_a]) & set(b.seq[lo_b + 1 : hi_b]):
                continue
            if _contexts(a.seq, ax) & _contexts(b.seq, by) and _contexts(
                a.seq, ay
            ) & _contexts(b.seq, bx):
                return x, y
    return None


def question_focus(text: str) -> str | None:
    """What the question asks for: "how", "why", "when", "who", "how much/many", or None
    (a what/which question, or no question word)."""
    return _parse(text).focus


def same_question_conflict(query: str, cached: str) -> str | None:
    """Why ``query`` asks something other than ``cached``; None if nothing says so."""
    a, b = _parse(query), _parse(cached)
    if a.focus and b.focus and a.focus != b.focus:
        return f"question focus differs ({a.focus} vs {b.focus})"
    for left, right in _OPPOSITES:
        sides_a = (bool(a.words & left), bool(a.words & right))
        sides_b = (bool(b.words & left), bool(b.words & right))
        if any(sides_a) and any(sides_b) and sides_a != sides_b:
            return f"opposite meaning ({'/'.join(sorted(left))[:20]} vs {'/'.join(sorted(right))[:20]})"
    # A passive ("Is SAML supported by the product?") exchanges subject and object by design.
    swap = None if _PASSIVE_RE.search(query) or _PASSIVE_RE.search(cached) else _swapped_roles(a, b)
    if swap is not None:
        return f"roles swapped ({swap[0]} <-> {swap[1]})"
    return None
