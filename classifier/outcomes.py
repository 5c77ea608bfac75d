"""Outcome data: which tier's answer was good enough for each request (docs/outcomes.md).

One JSON object a line, either form:

    {"text": "...", "history": ["..."]?, "outcomes": {"fast": 0..1, "standard": 0..1, "expert": 0..1}}
    {"text": "...", "weak": true, "strong": false}

``outcomes`` holds any subset of the tiers (correctness, a judge's score, a resolution flag); the
two-model form maps ``weak`` onto the cheapest tier and ``strong`` onto the dearest. A file is read
whole and checked before anything is fitted or written: a malformed line is an
:class:`OutcomeFileError` naming its line number and the reason.

The quality-cost metrics follow RouteLLM (``routellm/evals/evaluate.py``): sweep the share of
requests sent to the strong tier by the router's score; PGR at a share is
(quality - weak quality) / (strong quality - weak quality); APGR is the area under the PGR curve
over shares 0..1; CPT(x%) is the smallest share of strong calls that reaches PGR x%.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from switchyard.core.domain import TIERS
from switchyard.core.jsonsafe import json_lines

TIER_NAMES: tuple[str, ...] = tuple(t.value for t in TIERS)  # cheapest first
MAX_REPORTED = 20  # errors listed in one OutcomeFileError
MAX_LINE_DEPTH = 8  # an outcome line nests 3 levels (object, outcomes, history)


class OutcomeFileError(ValueError):
    """A malformed outcome file: every problem found (up to MAX_REPORTED), each with its line."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_REPORTED]
        more = f"; ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(f"{path}: " + "; ".join(shown) + more)


@dataclass(frozen=True)
class Outcome:
    """One request and how good each tier's answer was (0..1), for the tiers that were tried."""

    text: str
    outcomes: dict[str, float]
    history: list[str] = field(default_factory=list)
    line: int = 0
    # Importance weight (production feedback explored off-policy; 1.0 for offline outcome data).
    weight: float = 1.0

    @property
    def key(self) -> str:
        """Stable id of the prompt, for folds by prompt hash."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def _shown(value: object, limit: int = 40) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**limit else "a huge number"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _score(value: object, what: str) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    # Compared before float(): an integer of 400 digits has no float (OverflowError).
    if isinstance(value, int | float) and not (value != value or value < 0 or value > 1):
        return float(value)
    if isinstance(value, int | float):  # NaN or out of range
        raise ValueError(f"{what} must be between 0 and 1 (got {_shown(value)})")
    raise ValueError(f"{what} must be a boolean or a number between 0 and 1 (got {_shown(value)})")


def _encodable(text: str, what: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # valid JSON ("\ud800"), but no text an encoder can take
        raise ValueError(f"{what} holds an unpaired surrogate ({text[exc.start]!r} at "
                         f"character {exc.start})") from None
    return text


def parse_outcome(obj: object, line: int = 0) -> Outcome:
    """One line's object as an :class:`Outcome`, or ValueError saying what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object with 'text' and 'outcomes' (or 'weak'/'strong')")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("'text' must be a non-empty string")
    _encodable(text, "'text'")
    history = obj.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise ValueError("'history' must be a list of strings")
    for h in history:
        _encodable(h, "'history'")
    has_pair = "weak" in obj or "strong" in obj
    if "outcomes" in obj and has_pair:
        raise ValueError("give either 'outcomes' or 'weak'/'strong', not both")
    if has_pair:
        if "weak" not in obj or "strong" not in obj:
            raise ValueError("the two-model form needs both 'weak' and 'strong'")
        scores = {TIER_NAMES[0]: _score(obj["weak"], "'weak'"),
                  TIER_NAMES[-1]: _score(obj["strong"], "'strong'")}
    elif "outcomes" in obj:
        raw = obj["outcomes"]
        if not isinstance(raw, dict) or not raw:
            raise ValueError("'outcomes' must be an object of tier -> score, e.g. {\"fast\": 1}")
        unknown = [k for k in raw if k not in TIER_NAMES]
        if unknown:
            raise ValueError(f"unknown tier {unknown[0]!r} in 'outcomes' (tiers: {', '.join(TIER_NAMES)})")
        scores = {k: _score(raw[k], f"outcomes.{k}") for k in TIER_NAMES if k in raw}
    else:
        raise ValueError("missing 'outcomes' (or the two-model 'weak' and 'strong')")
    return Outcome(text=text, outcomes=scores, history=list(history), line=line)


def load_outcomes(path: Path | str) -> list[Outcome]:
    """Every line of an outcome file, or :class:`OutcomeFileError` listing the bad lines.

    Blank lines are skipped. At least two tiers must be scored across the file (a router learns
    to choose between tiers), and each line needs the cheapest and dearest scored tiers of the
    file, so every request can be placed on the quality-cost curve."""
    path = Path(path)
    rows: list[Outcome] = []
    problems: list[str] = []
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OutcomeFileError(path, [f"cannot read it ({exc.strerror or exc})"]) from exc
    for n, obj, not_json in json_lines(raw, MAX_LINE_DEPTH):
        if not_json:
            problems.append(f"line {n}: {not_json}")
            continue
        try:
            rows.append(parse_outcome(obj, n))
        except ValueError as exc:
            problems.append(f"line {n}: {exc}")
    if problems:
        raise OutcomeFileError(path, problems)
    if not rows:
        raise OutcomeFileError(path, ["no outcomes in the file"])
    tiers = scored_tiers(rows)
    if len(tiers) < 2:
        raise OutcomeFileError(path, ["outcomes for at least two tiers are needed (found only "
                                      f"{', '.join(tiers)})"])
    lo, hi = tiers[0], tiers[-1]
    for r in rows:
        if lo not in r.outcomes or hi not in r.outcomes:
            problems.append(f"line {r.line}: needs scores for both {lo} and {hi} "
                            "(the cheapest and dearest tiers scored in this file)")
    if problems:
        raise OutcomeFileError(path, problems)
    return rows


def scored_tiers(rows: Sequence[Outcome]) -> list[str]:
    """The tiers scored anywhere in ``rows``, cheapest first."""
    seen = {t for r in rows for t in r.outcomes}
    return [t for t in TIER_NAMES if t in seen]


def folds_by_hash(rows: Sequence[Outcome], k: int) -> np.ndarray:
    """Fold index of each row from its prompt's hash: the same text is always in the same fold."""
    return np.array([int(r.key[:8], 16) % k for r in rows], dtype=np.int64)


# -- quality-cost metrics ----------------------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    """Quality at each share of strong calls (0, 1/n, ..., 1) when routing by a score."""

    shares: np.ndarray
    quality: np.ndarray
    weak: float
    strong: float

    @property
    def pgr(self) -> np.ndarray:
        gap = self.strong - self.weak
        return (self.quality - self.weak) / gap if gap else np.zeros_like(self.quality)

    @property
    def apgr(self) -> float:
        pgr = self.pgr
        return float(np.sum((pgr[1:] + pgr[:-1]) / 2.0 * np.diff(self.shares)))

    def cpt(self, target: float) -> float:
        """Smallest share of strong calls with PGR >= target (1.0 if never)."""
        hit = np.nonzero(self.pgr >= target - 1e-12)[0]
        return float(self.shares[hit[0]]) if hit.size else 1.0

    @property
    def defined(self) -> bool:
        """PGR needs a gap to recover: the strong tier better than the weak one on these rows."""
        return self.strong > self.weak

    def summary(self) -> dict[str, float | None]:
        """APGR and CPTs; all None when the strong tier is not better (no gap to recover)."""
        if not self.defined:
            return {"apgr": None, "cpt50": None, "cpt80": None, "cpt95": None}
        return {"apgr": round(self.apgr, 4), "cpt50": round(self.cpt(0.5), 4),
                "cpt80": round(self.cpt(0.8), 4), "cpt95": round(self.cpt(0.95), 4)}


def curve(score: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> Curve:
    """Send the highest-scoring requests to the strong tier first. Tied scores are taken as one
    block, interpolated linearly inside it (no tie-break by position in the file)."""
    score, weak, strong = (np.asarray(a, dtype=np.float64) for a in (score, weak, strong))
    n = len(score)
    order = np.argsort(-score, kind="stable")
    gain = (strong - weak)[order]
    s_sorted = score[order]
    # Average the gain inside each block of equal scores: a router that cannot tell requests
    # apart gets the expected quality of sending any of them.
    _, start, counts = np.unique(-s_sorted, return_index=True, return_counts=True)
    for st, c in zip(start, counts, strict=True):
        if c > 1:
            gain[st:st + c] = gain[st:st + c].mean()
    quality = (weak.sum() + np.concatenate([[0.0], np.cumsum(gain)])) / n
    return Curve(shares=np.arange(n + 1) / n, quality=quality,
                 weak=float(weak.mean()), strong=float(strong.mean()))


def random_curve(weak: np.ndarray, strong: np.ndarray) -> Curve:
    """The random router's expected curve: quality rises linearly with the share of strong calls."""
    return curve(np.zeros(len(weak)), weak, strong)


def oracle_curve(weak: np.ndarray, strong: np.ndarray) -> Curve:
    """Send exactly the requests the strong tier answers better, best gain first."""
    return curve(np.asarray(strong, float) - np.asarray(weak, float), weak, strong)
