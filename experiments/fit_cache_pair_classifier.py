"""Does a fitted pair classifier beat the shipped threshold + guard + same-question check?

The measurement behind the cache's method choice (issue 16). On the real labelled pairs in
``../shared/calibration/question_pairs.jsonl`` (never copied into the repo), every pair goes
through the cache's own lookup once (threshold disabled, :func:`run_pairs`). Candidates are the
pairs the guard and the same-question check let through with cosine >= ``--floor``. A logistic
regression over the cosine and the pair's lexical differences (content words only on one side,
their share, numbers, question focus, length) re-scores those candidates.

Both methods are scored the same way, out of sample: 5-fold stratified cross-validation; the
operating point (the threshold, or the classifier's cut-off, chosen on out-of-fold scores of
the four training folds) is the one meeting ``--target`` false hits there, and the fifth fold is
scored with it. Repeated over ``--repeats`` shuffles.

Run: ``.venv/bin/python experiments/fit_cache_pair_classifier.py [--embeddings FILE.npz]``
(the same .npz cache of vectors as ``benchmarks/fit_cache_threshold.py``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# The shipped threshold's benchmark: its pair loading and cross-validation score these too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from fit_cache_threshold import DEFAULT_PAIRS, calibration_outcomes, require_pairs  # noqa: E402

from switchyard.cache.verify import _parse  # noqa: E402

_NUM = re.compile(r"\d+")


def pair_features(a: str, b: str, similarity: float) -> list[float]:
    pa, pb = _parse(a), _parse(b)
    ca, cb = set(pa.content), set(pb.content)
    only_a, only_b = ca - cb, cb - ca
    return [
        similarity,
        len(only_a) + len(only_b),
        min(len(only_a), len(only_b)),
        len(ca & cb) / max(1, len(ca | cb)),
        float(set(_NUM.findall(a)) != set(_NUM.findall(b))),
        float((pa.focus or "") != (pb.focus or "")),
        abs(len(pa.content) - len(pb.content)),
        float(pa.seq[:1] == pb.seq[:1]),
    ]


def _cutoff(scores: np.ndarray, labels: np.ndarray, target: float) -> float:
    """The lowest cut-off whose false-hit rate on ``labels`` stays within ``target``."""
    negatives = np.sort(scores[labels == 0])[::-1]
    allowed = int(target * len(negatives))
    return float(negatives[allowed]) if allowed < len(negatives) else -np.inf


def _model() -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    ap.add_argument("--embeddings", type=Path, default=None)
    ap.add_argument("--target", type=float, default=0.01)
    ap.add_argument("--floor", type=float, default=0.88)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    require_pairs(args.pairs)

    pairs, outcomes, _ = calibration_outcomes(args.pairs, args.embeddings)
    text = {p["id"]: (p["a"], p["b"]) for p in pairs}
    y = np.array([o.label for o in outcomes])
    exact = np.array([o.exact for o in outcomes])
    sim = np.array([o.similarity if o.similarity is not None else -1.0 for o in outcomes])
    passes = np.array([o.guard_ok and o.verify_ok for o in outcomes]) & ~exact
    X = np.array([pair_features(*text[o.id], s) for o, s in zip(outcomes, sim, strict=True)])
    candidate = passes & (sim >= args.floor)

    results: dict[str, list[tuple[float, float]]] = {"threshold": [], "classifier": []}
    for repeat in range(args.repeats):
        folds = StratifiedKFold(5, shuffle=True, random_state=repeat).split(X, y)
        for train, test in folds:
            # Threshold + guard + check: the shipped method, operating point from the train folds.
            score = np.where(passes, sim, -np.inf)
            cut = _cutoff(score[train], y[train], args.target)
            hit = exact[test] | (score[test] > cut)
            results["threshold"].append((hit[y[test] == 1].mean(), hit[y[test] == 0].mean()))
            # Classifier: fitted on the train folds' candidates; its cut-off from their
            # out-of-fold scores, so the operating point is not chosen on fitted scores.
            cand = train[candidate[train]]
            oof = np.full(len(train), -np.inf)
            inner = StratifiedKFold(5, shuffle=True, random_state=99).split(cand, y[cand])
            pos = {i: n for n, i in enumerate(train)}
            for fit_idx, score_idx in inner:
                model = _model().fit(X[cand[fit_idx]], y[cand[fit_idx]])
                oof[[pos[i] for i in cand[score_idx]]] = model.decision_function(X[cand[score_idx]])
            cut = _cutoff(oof, y[train], args.target)
            model = _model().fit(X[cand], y[cand])
            test_score = np.full(len(test), -np.inf)
            mask = candidate[test]
            if mask.any():
                test_score[mask] = model.decision_function(X[test][mask])
            hit = exact[test] | (test_score > cut)
            results["classifier"].append((hit[y[test] == 1].mean(), hit[y[test] == 0].mean()))

    print(f"{len(outcomes)} pairs ({int(y.sum())} duplicates); target <= {args.target:.1%} false "
          f"hits; 5-fold CV x {args.repeats}; candidates: guard + check pass, cosine >= {args.floor}")
    for name, rows in results.items():
        dup, false = np.array(rows).mean(axis=0)
        print(f"  {name:10s}  duplicate hits {dup:6.1%}   false hits {false:6.2%}")


if __name__ == "__main__":
    main()
