"""How far can the outcome head get on the features the router has? (issue 25)

Scores outcome-model variants on an outcome file (default RouteLLM's GSM8K outcomes in
``../shared/outcomes/gsm8k_routellm.jsonl``, read in place) with exactly what ``route eval
--outcomes FILE --folds 2`` does: out-of-fold scores, folds by prompt hash, APGR and CPT from
``switchyard.classifier.outcomes``. Variants:

- ``shipped``: the product's :func:`fit_outcomes` (16 principal directions, C 0.05, 17 text features);
- ``15 features``: the same with the two clause features removed (the head before them);
- ``knn``: the mean strong-minus-weak gain of the 100 nearest training requests (cosine);
- ``shipped + knn``: the two rank-averaged (0.7 / 0.3);
- ``nested CV``: C and directions chosen per training fold by an inner 3-fold APGR over
  C 0.01-0.1 x directions 8-32, on the training fold only;
- ``+ complexity probs``: the shipped head with the classifier's three complexity probabilities
  (log) as more features.

Each line also gives each fold scored on its own (the table pools both folds' scores).

Then the split's luck: the shipped head and the 15-feature head on ``--splits`` other two-fold
splits of the same file (a salted prompt hash), mean, spread and a paired count.

Run: ``.venv/bin/python experiments/explore_outcome_models.py [--outcomes FILE]
[--embeddings FILE.npy] [--splits 8]`` (embedding 1,307 questions takes ~25 s; ``--embeddings``,
outside the repo, keeps them for the next run). Needs a home with the encoder (``switchyard setup``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from switchyard.classifier import outcome_model as om
from switchyard.classifier.outcomes import curve, folds_by_hash, load_outcomes

Score = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (train idx, test idx) -> test scores


def embeddings(rows: list, cache: Path | None) -> np.ndarray:
    if cache is not None and cache.exists():
        return np.load(cache)
    from switchyard.app import Switchyard
    from switchyard.cli.outcome_routing import embed_rows

    emb = embed_rows(Switchyard(), rows)
    if cache is not None:
        np.save(cache, emb)
    return emb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--outcomes", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared/outcomes/gsm8k_routellm.jsonl")
    ap.add_argument("--embeddings", type=Path, default=None)
    ap.add_argument("--splits", type=int, default=8)
    args = ap.parse_args()
    if not args.outcomes.exists():
        print(f"no outcome file at {args.outcomes}: pass --outcomes FILE", file=sys.stderr)
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows = load_outcomes(args.outcomes)
    emb = embeddings(rows, args.embeddings).astype(np.float32)
    texts = [r.text for r in rows]
    _, _, weak, strong = om.ends(rows)
    full_features = om.text_features

    def shipped(tr: np.ndarray, te: np.ndarray, hp: dict | None = None) -> np.ndarray:
        m = om.fit_outcomes([rows[i] for i in tr], emb[tr], hp)
        return m.gain(emb[te], [texts[i] for i in te])

    def first15(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        om.text_features = lambda t: full_features(t)[:, :15]
        try:
            return shipped(tr, te)
        finally:
            om.text_features = full_features

    def knn(tr: np.ndarray, te: np.ndarray, k: int = 100) -> np.ndarray:
        sim = emb[te] @ emb[tr].T
        idx = np.argsort(-sim, axis=1)[:, :k]
        return (strong - weak)[tr][idx].mean(axis=1)

    def nested(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        inner = np.array([int(rows[i].key[8:16], 16) % 3 for i in tr])
        best = (-1.0, {})
        for c in (0.01, 0.02, 0.05, 0.1):
            for k in (8, 16, 32):
                hp = {"C": c, "components": k}
                sc = np.zeros(len(tr))
                for g in range(3):
                    sc[inner == g] = shipped(tr[inner != g], tr[inner == g], hp)
                a = curve(sc, weak[tr], strong[tr]).apgr
                if a > best[0]:
                    best = (a, hp)
        return shipped(tr, te, best[1])

    complexity: dict[str, np.ndarray] = {}  # text -> log complexity probabilities, made once

    def with_complexity(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        # The classifier's own complexity probabilities (log), which the router computes anyway.
        if not complexity:
            from switchyard.app import Switchyard

            p = Switchyard().classifier.model.predict(emb, texts)["p"]
            complexity.update({t: np.log(np.clip(p[i], 1e-4, 1.0)) for i, t in enumerate(texts)})
        om.text_features = lambda ts: np.hstack([full_features(ts),
                                                 np.array([complexity[t] for t in ts])])
        try:
            return shipped(tr, te)
        finally:
            om.text_features = full_features

    def oof(fn: Score, fold: np.ndarray) -> np.ndarray:
        out = np.zeros(len(rows))
        for f in range(int(fold.max()) + 1):
            out[fold == f] = fn(np.nonzero(fold != f)[0], np.nonzero(fold == f)[0])
        return out

    def rank(x: np.ndarray) -> np.ndarray:  # tied scores share their mean rank (no order)
        from scipy.stats import rankdata

        return rankdata(x) / len(x)

    def blend(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        # Ranks within the test fold, as the pooled variant below does per fold's scores.
        return 0.7 * rank(shipped(tr, te)) + 0.3 * rank(knn(tr, te))

    fold = folds_by_hash(rows, 2)
    print(f"{args.outcomes.name}: {len(rows)} requests, folds by prompt hash (route eval --folds 2)")
    print(f"{'variant':24s} {'APGR':>6s} {'CPT50':>6s} {'CPT80':>6s}   per fold APGR / CPT50")
    scores = {"shipped": oof(shipped, fold), "15 features": oof(first15, fold), "knn": oof(knn, fold)}
    scores["shipped + knn"] = oof(blend, fold)
    scores["nested CV"] = oof(nested, fold)
    scores["+ complexity probs"] = oof(with_complexity, fold)
    for name, s in scores.items():
        c = curve(s, weak, strong).summary()
        per = [curve(s[fold == f], weak[fold == f], strong[fold == f]).summary() for f in (0, 1)]
        print(f"{name:24s} {c['apgr']:6.3f} {c['cpt50']:6.1%} {c['cpt80']:6.1%}   "
              + "  ".join(f"{p['apgr']:.3f} / {p['cpt50']:.1%}" for p in per), flush=True)

    if args.splits < 1:
        return 0
    print(f"\n{args.splits} other two-fold splits (salted prompt hash):")
    res: dict[str, list[tuple[float, float]]] = {"shipped": [], "15 features": [],
                                                  "shipped + knn": []}
    for salt in range(args.splits):
        fo = np.array([int(hashlib.sha256(f"{salt}{t}".encode()).hexdigest()[:8], 16) % 2
                       for t in texts])
        for name, fn in (("shipped", shipped), ("15 features", first15), ("shipped + knn", blend)):
            c = curve(oof(fn, fo), weak, strong)
            res[name].append((c.apgr, c.cpt(0.5)))
    for name, v in res.items():
        a = np.array(v)
        print(f"{name:24s} APGR {a[:, 0].mean():.3f} (sd {a[:, 0].std():.3f}, {a[:, 0].min():.3f}-"
              f"{a[:, 0].max():.3f})  CPT50 {a[:, 1].mean():.1%} (sd {a[:, 1].std():.1%}, "
              f"{a[:, 1].min():.1%}-{a[:, 1].max():.1%})")
    a, b = np.array(res["shipped"]), np.array(res["15 features"])
    print(f"shipped better APGR on {int((a[:, 0] > b[:, 0]).sum())}/{len(a)} splits, "
          f"CPT50 lower or equal on {int((a[:, 1] <= b[:, 1]).sum())}/{len(a)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
