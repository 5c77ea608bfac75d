"""Probe and calibrate the cache on labelled question pairs, with the graph's own decision logic.

For every pair, in a partition of its own for one synthetic user, ``a`` is stored as a
cacheable low-complexity answer and ``b`` is looked up as the same user through
:func:`cache_policy` + :meth:`SemanticCache.lookup`, on a throwaway in-memory cache, so the
user's real cache is never touched.

Calibration runs the same lookup once with the threshold disabled, which yields for every pair
its exact-match flag, its cosine similarity, the guard's verdict and the same-question check's;
the hit at any threshold ``t`` is then ``exact or (guard_ok and verify_ok and similarity >= t)``,
identical to what a lookup at ``t`` returns (one entry per partition). The raw-cosine baseline
(no guard, no check) and the guard alone are reported alongside.

Rates come with a 95% Wilson interval: 0 false hits out of 300 negatives still allows a true
rate of up to 1.3%, which matters when the budget is 1%.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from switchyard.cache.base import TIERS, CachedAnswer, Partition
from switchyard.cache.faiss_backend import FaissSemanticCache
from switchyard.cache.guard import spelling_variants
from switchyard.cache.policy import cache_policy
from switchyard.cache.verify import same_question_conflict
from switchyard.core.settings import CacheSettings


@dataclass
class PairOutcome:
    id: Any
    label: int | None
    kind: str
    split: str
    exact: bool
    similarity: float | None
    guard_ok: bool  # False if the guard (or the policy) rejected the pair
    reason: str
    hit: bool = False  # the lookup's own verdict at the threshold it ran with
    verify_ok: bool = True  # the same-question check (verify.py) agrees
    verify: bool = True  # the check is on in the settings this ran with
    tier: str = "fast"
    intent: str = ""

    def hit_at(self, threshold: float) -> bool:
        return self.exact or (
            self.guard_ok
            and (self.verify_ok or not self.verify)
            and self.similarity is not None
            and self.similarity >= threshold
        )

    def guard_hit_at(self, threshold: float) -> bool:
        """Threshold + guard, without the same-question check (what the cache did before)."""
        return self.exact or (
            self.guard_ok and self.similarity is not None and self.similarity >= threshold
        )

    def raw_hit_at(self, threshold: float) -> bool:
        """Cosine only, no guard: what a plain semantic cache would do."""
        return self.exact or (self.similarity is not None and self.similarity >= threshold)


def read_pairs(path: Path | str, *, need_label: bool) -> Iterator[dict[str, Any]]:
    """Yield pair dicts, or ``{"line", "id", "error"}`` for malformed lines (never raises)."""
    from switchyard.core.jsonsafe import loads_limited

    # Binary, decoded per line: one undecodable or hostile line fails alone, never the run.
    with Path(path).open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield {"line": lineno, "id": None,
                       "error": f"not valid UTF-8 (bad byte at offset {exc.start})"}
                continue
            if not line.strip():
                continue
            try:
                obj = loads_limited(line, 32)
            except json.JSONDecodeError as exc:
                yield {"line": lineno, "id": None, "error": f"invalid JSON: {exc.msg}"}
                continue
            except ValueError as exc:  # nested too deeply
                yield {"line": lineno, "id": None, "error": str(exc)}
                continue
            if not isinstance(obj, dict):
                yield {"line": lineno, "id": None, "error": "line is not a JSON object"}
                continue
            pid = obj.get("id")
            problems = []
            if pid is None or isinstance(pid, (dict, list)):
                problems.append("missing or invalid 'id'")
            for key in ("a", "b"):
                if not isinstance(obj.get(key), str) or not obj[key].strip():
                    problems.append(f"missing or empty '{key}'")
            if need_label and obj.get("label") not in (0, 1, True, False):
                problems.append("'label' must be 0 or 1")
            if obj.get("tier") is not None and obj.get("tier") not in TIERS:
                problems.append(f"'tier' must be one of {', '.join(TIERS)}")
            if obj.get("intent") is not None and not isinstance(obj.get("intent"), str):
                problems.append("'intent' must be a string")
            if problems:
                yield {"line": lineno, "id": pid, "error": "; ".join(problems)}
                continue
            yield {"line": lineno, **obj}


def embed_all(texts: list[str], embed: Callable[[list[str]], np.ndarray]) -> dict[str, np.ndarray]:
    """Each distinct text's vector, embedded once."""
    unique = sorted(set(texts))
    vecs = embed(unique)
    return dict(zip(unique, vecs, strict=True))


def run_pairs(
    pairs: Iterable[dict[str, Any]],
    settings: CacheSettings,
    *,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    threshold: float | None = None,
    embeddings: dict[str, np.ndarray] | None = None,
) -> list[PairOutcome | dict[str, Any]]:
    """Store ``a``, look up ``b`` per pair; malformed pairs pass through as error dicts.

    Vectors come from ``embeddings`` (precomputed) or are made with ``embed``."""
    items = list(pairs)
    good = [p for p in items if "error" not in p]
    if embeddings is None:
        if embed is None:
            raise TypeError("run_pairs needs `embed` (an encoder's batch embed) or `embeddings`")
        embeddings = embed_all([t for p in good for t in (p["a"], p["b"])], embed)
    vecs = embeddings
    cache = FaissSemanticCache(None, settings)
    out: list[PairOutcome | dict[str, Any]] = []
    try:
        for n, pair in enumerate(items):
            if "error" in pair:
                out.append(pair)
                continue
            a, b = pair["a"], pair["b"]
            intent = str(pair.get("intent") or "faq")
            tier = str(pair.get("tier") or "fast")
            label = int(pair["label"]) if pair.get("label") in (0, 1, True, False) else None
            common = {
                "id": pair["id"],
                "label": label,
                "kind": str(pair.get("kind", "")),
                "split": str(pair.get("split", "")),
                "tier": tier,
                "intent": str(pair.get("intent") or ""),
                "verify": settings.verify_same_question,
            }
            part = Partition.for_request(
                tenant="probe",
                user_id=f"probe-user-{n}",
                personal=True,
                key=b"cache-probe",  # throwaway partitions: any key isolates the pairs
                tier=tier,
                prompt_version="probe",
                toolset_version="probe",
                kb_version="probe",
            )
            pol_a = cache_policy(
                complexity="low", intent=intent, in_scope=True, text=a, settings=settings
            )
            if not pol_a.cacheable or pol_a.ttl_s is None:
                out.append(
                    PairOutcome(
                        **common,
                        exact=False,
                        similarity=None,
                        guard_ok=False,
                        reason=f"a {pol_a.reason}",
                    )
                )
                continue
            answer = CachedAnswer.create(
                answer=f"(probe answer for {pair['id']})",
                agent="fast",
                model="probe",
                intent=intent,
                complexity="low",
                original_text=a,
                ttl_s=pol_a.ttl_s,
            )
            cache.store(a, vecs[a], part, answer)
            pol_b = cache_policy(
                complexity="low", intent=intent, in_scope=True, text=b, settings=settings
            )
            if not pol_b.cacheable:
                out.append(
                    PairOutcome(
                        **common,
                        exact=False,
                        similarity=None,
                        guard_ok=False,
                        reason=f"b {pol_b.reason}",
                    )
                )
                continue
            verdict = cache.lookup(b, vecs[b], part, threshold=threshold, intent=intent)
            guard_ok = verdict.hit or not verdict.reason.startswith("guard:")
            # A spelling variant hits below any threshold (see the lookup); with the threshold
            # disabled the lookup reports it as semantic, so recognise it here.
            exact = verdict.match == "exact" or (
                guard_ok
                and verdict.similarity is not None
                and verdict.similarity >= settings.spelling_floor
                and spelling_variants(b, a) is not None
            )
            out.append(
                PairOutcome(
                    **common,
                    exact=exact,
                    similarity=verdict.similarity,
                    guard_ok=guard_ok,
                    reason=verdict.reason,
                    hit=verdict.hit,
                    verify_ok=same_question_conflict(b, a) is None,
                )
            )
    finally:
        cache.close()
    return out


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a binomial rate (sound at 0 or few events, unlike p±2se)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Figures:
    threshold: float
    positives: int
    negatives: int
    true_hits: int
    false_hits: int

    @property
    def hit_rate(self) -> float:
        return self.true_hits / self.positives if self.positives else 0.0

    @property
    def false_hit_rate(self) -> float:
        return self.false_hits / self.negatives if self.negatives else 0.0

    @property
    def false_hit_ci(self) -> tuple[float, float]:
        return wilson_interval(self.false_hits, self.negatives)

    @property
    def precision(self) -> float:
        hits = self.true_hits + self.false_hits
        return self.true_hits / hits if hits else 1.0


Method = str  # "verified" (guard + same-question check, per settings), "guard", "raw"


def figures(
    outcomes: list[PairOutcome], threshold: float, *, raw: bool = False, method: Method = ""
) -> Figures:
    method = "raw" if raw else (method or "verified")
    pos = [o for o in outcomes if o.label == 1]
    neg = [o for o in outcomes if o.label == 0]
    if method == "raw":
        hit = lambda o: o.raw_hit_at(threshold)  # noqa: E731
    elif method == "guard":
        hit = lambda o: o.guard_hit_at(threshold)  # noqa: E731
    else:
        hit = lambda o: o.hit_at(threshold)  # noqa: E731
    return Figures(threshold, len(pos), len(neg), sum(map(hit, pos)), sum(map(hit, neg)))


def best_threshold(
    outcomes: list[PairOutcome],
    grid: list[float],
    max_false_hit_rate: float,
    *,
    strict: bool = False,
) -> float | None:
    """Lowest threshold (most hits) whose false-hit rate stays within the budget; ``strict``
    holds the upper end of the 95% interval to the budget instead of the measured rate."""
    ok = []
    for t in grid:
        f = figures(outcomes, t)
        rate = f.false_hit_ci[1] if strict else f.false_hit_rate
        if rate <= max_false_hit_rate:
            ok.append(t)
    return min(ok) if ok else None


def min_negatives_for(target: float) -> int:
    """Negatives a group needs before its own threshold is worth fitting: with none of them
    served, the 95% upper bound on its false-hit rate is ~3/n (rule of three), so n >= 3/target."""
    return math.ceil(3.0 / target)


def default_grid() -> list[float]:
    return [round(0.60 + 0.01 * i, 2) for i in range(40)]
