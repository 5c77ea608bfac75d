"""Choose the cache's similarity threshold on real question pairs, with cross-validation.

Reads the 6,000 labelled pairs in ``../shared/calibration/question_pairs.jsonl`` (relative to the
repo; never copied into it), runs every pair through the cache's own lookup once
(:func:`switchyard.cache.calibration.run_pairs`, threshold disabled), then:

* prints false-hit and duplicate-hit rates by threshold for raw cosine, threshold + fact guard,
  and threshold + guard + same-question check (the shipped method), with 95% Wilson intervals;
* repeats 5-fold stratified cross-validation (5 shuffles): the threshold is chosen on four folds
  (lowest one meeting ``--target``) and scored on the fifth, so the quoted figures are not
  in-sample. The spread of chosen thresholds shows how stable the choice is.

Run: ``.venv/bin/python benchmarks/fit_cache_threshold.py [--target 0.01] [--pairs FILE]
[--embeddings FILE.npz]`` (embedding 11,779 texts takes ~10 min on 2 busy cores; ``--embeddings``
keeps the vectors in an .npz outside the repo so a second run skips that). The encoder is the
front door's (``Switchyard().encoder``), built in SWITCHYARD_HOME.

The experiments in ``experiments/`` reuse :func:`require_pairs`, :func:`calibration_outcomes`
and :func:`cross_validate`, so their figures are scored exactly like the shipped threshold's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

from switchyard.cache.calibration import (
    PairOutcome,
    best_threshold,
    figures,
    read_pairs,
    run_pairs,
    wilson_interval,
)
from switchyard.core.settings import CacheSettings

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PAIRS = REPO.parent / "shared" / "calibration" / "question_pairs.jsonl"


def require_pairs(path: Path) -> None:
    """Exit with one sentence (code 2) when the calibration pairs are not at ``path``."""
    if not path.is_file():
        print(f"{path} not found: these real question pairs are not in the repo, they come from "
              "the project's shared folder (../shared/calibration/question_pairs.jsonl beside "
              "the clone), or pass --pairs FILE.", file=sys.stderr)
        raise SystemExit(2)


def stratified_folds(labels: list[int], k: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    for label in (0, 1):
        idx = [i for i, y in enumerate(labels) if y == label]
        rng.shuffle(idx)
        for n, i in enumerate(idx):
            folds[n % k].append(i)
    return folds


def load_or_embed(pairs: list[dict], path: Path | None) -> dict[str, np.ndarray]:
    """The vectors of every text in ``pairs``, from ``path`` when it holds them all."""
    texts = sorted({p[k] for p in pairs if "error" not in p for k in ("a", "b")})
    if path is not None and path.exists():
        data = np.load(path, allow_pickle=False)
        known = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))
        if all(t in known for t in texts):
            return {t: known[t] for t in texts}
    from switchyard import Switchyard

    with Switchyard() as sy:
        vectors = sy.encoder.embed(texts)
    if path is not None:
        np.savez(path, texts=np.array(texts), vectors=vectors)
    return dict(zip(texts, vectors, strict=True))


def cross_validate(
    outcomes: list[PairOutcome], grid: list[float], target: float, folds: int, repeats: int
) -> dict[str, object]:
    """Threshold chosen on k-1 folds (lowest meeting ``target``), scored on the held-out fold."""
    labels = [o.label or 0 for o in outcomes]
    chosen: list[float] = []
    fhr: list[float] = []
    hit: list[float] = []
    for seed in range(repeats):
        false_hits = true_hits = 0
        for fold in stratified_folds(labels, folds, seed):
            held = set(fold)
            train = [o for i, o in enumerate(outcomes) if i not in held]
            test = [outcomes[i] for i in fold]
            t = best_threshold(train, grid, target)
            t = max(grid) if t is None else t
            chosen.append(t)
            f = figures(test, t)
            false_hits += f.false_hits
            true_hits += f.true_hits
        fhr.append(false_hits / labels.count(0))
        hit.append(true_hits / labels.count(1))
    return {
        "cv_false_hit_rate_mean": round(statistics.fmean(fhr), 4),
        "cv_false_hit_rate_max": round(max(fhr), 4),
        "cv_hit_rate_mean": round(statistics.fmean(hit), 4),
        "chosen_thresholds": sorted(set(chosen)),
        "chosen_threshold_median": statistics.median(chosen),
    }


def calibration_outcomes(
    path: Path, embeddings: Path | None
) -> tuple[list[dict], list[PairOutcome], dict[str, np.ndarray]]:
    """The well-formed labelled pairs, each run once through the cache's own lookup with the
    threshold disabled (similarity, guard and check verdicts), and the texts' MiniLM vectors."""
    pairs = [p for p in read_pairs(path, need_label=True) if "error" not in p]
    vectors = load_or_embed(pairs, embeddings)
    outcomes = [o for o in run_pairs(pairs, CacheSettings(), threshold=-1.0, embeddings=vectors)
                if isinstance(o, PairOutcome)]
    return pairs, outcomes, vectors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    ap.add_argument("--target", type=float, default=0.01)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--embeddings", type=Path, help="Reuse/save the texts' vectors here (.npz).")
    args = ap.parse_args()
    require_pairs(args.pairs)

    settings = CacheSettings()
    pairs = list(read_pairs(args.pairs, need_label=True))
    results = run_pairs(
        pairs, settings, threshold=-1.0, embeddings=load_or_embed(pairs, args.embeddings)
    )
    outcomes = [r for r in results if isinstance(r, PairOutcome)]
    bad = len(results) - len(outcomes)
    grid = [round(0.80 + 0.005 * i, 3) for i in range(40)]

    print(
        f"{len(outcomes)} pairs ({bad} bad lines); shipped threshold {settings.similarity_threshold}"
    )
    print("threshold | verified FHR [95% CI] hit | guard only FHR hit | raw cosine FHR hit")
    for t in grid:
        v, g, r = (figures(outcomes, t, method=m) for m in ("verified", "guard", "raw"))
        lo, hi = wilson_interval(v.false_hits, v.negatives)
        print(
            f"{t:.3f} | {v.false_hit_rate:.2%} [{lo:.2%}-{hi:.2%}] {v.hit_rate:.1%} | "
            f"{g.false_hit_rate:.2%} {g.hit_rate:.1%} | {r.false_hit_rate:.2%} {r.hit_rate:.1%}"
        )

    cv = cross_validate(outcomes, grid, args.target, args.folds, args.repeats)
    print(
        json.dumps(
            {
                "target_false_hit_rate": args.target,
                "cv": f"{args.folds}-fold x {args.repeats}",
                **cv,
                "shipped": {
                    "threshold": settings.similarity_threshold,
                    "false_hit_rate": round(
                        figures(outcomes, settings.similarity_threshold).false_hit_rate, 4
                    ),
                    "hit_rate": round(figures(outcomes, settings.similarity_threshold).hit_rate, 4),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
