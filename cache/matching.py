"""Which nearest neighbour, if any, may answer a request: shared by every cache backend.

A backend finds the live (unexpired) nearest neighbours in the request's partition, best first;
this module applies the same rules everywhere: the similarity threshold, the spelling-variant
path below it, then the false-hit guard. Keeping it in one place is what makes two backends
give the same verdicts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from switchyard.cache.base import CachedAnswer, CacheVerdict
from switchyard.cache.guard import guard_conflict, spelling_variants
from switchyard.cache.verify import same_question_conflict


@dataclass(frozen=True, slots=True)
class Candidate:
    sim: float  # cosine similarity to the request
    text: str  # the cached question
    created_at: float
    ref: Any  # backend handle (row id) handed back to ``fetch``


@dataclass(frozen=True, slots=True)
class Choice:
    verdict: CacheVerdict | None  # a hit, or None
    best: float | None  # best similarity seen (for the miss verdict)
    reason: str  # why nothing hit


def choose(
    text: str,
    candidates: Iterable[Candidate],
    *,
    label: str,
    now: float,
    threshold: float,
    spelling_floor: float,
    fetch: Callable[[Candidate], CachedAnswer | None],
    verify: bool = True,
) -> Choice:
    """First candidate that clears the threshold (or is a spelling variant), the guard and,
    with ``verify``, the same-question check (``switchyard.cache.verify``).

    ``fetch`` returns the candidate's answer, or None if it vanished meanwhile (skipped).
    """
    best: float | None = None
    reason = "miss"
    for c in candidates:
        if best is None:
            best = c.sim
        typos = None
        if c.sim < threshold:
            # Below the threshold only a spelling variant of the cached question may hit
            # ("how do i reset my pasword"): MiniLM scores typos ~0.6-0.75.
            if c.sim >= spelling_floor:
                typos = spelling_variants(text, c.text)
            if typos is None:
                if reason == "miss":
                    reason = f"below threshold {threshold:.2f}"
                continue
        conflict = guard_conflict(text, c.text)
        if conflict is not None:
            if not reason.startswith(("guard:", "verify:")):
                reason = f"guard: {conflict}"
            continue
        if verify and typos is None:
            differs = same_question_conflict(text, c.text)
            if differs is not None:
                if not reason.startswith(("guard:", "verify:")):
                    reason = f"verify: {differs}"
                continue
        ans = fetch(c)
        if ans is None:
            continue
        if typos is not None:
            spelled = ", ".join(f"{x}~{y}" for x, y in typos)
            match, why = "exact", f"exact match up to spelling ({spelled})"
        else:
            match, why = "semantic", f"semantic match >= {threshold:.2f}"
        verdict = CacheVerdict(
            hit=True,
            similarity=c.sim,
            partition=label,
            entry_age_s=max(0.0, now - c.created_at),
            match=match,
            reason=why,
            answer=ans,
        )
        return Choice(verdict, best, why)
    return Choice(None, best, reason)
