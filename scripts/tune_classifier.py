"""Pick the local classifier's hyper-parameters by 5-fold cross-validation on TRAIN+DEV.

    .venv/bin/python scripts/tune_classifier.py

The test split is never read here. Folds are stratified by intent; follow-up rows stay in
their fold with their history. The winner goes into DEFAULT_HPARAMS in
switchyard/classifier/local.py. Objective: tier accuracy + high recall - 3 x high->fast.
"""

from __future__ import annotations

import itertools
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from switchyard.classifier.data import Example, load_labeled  # noqa: E402
from switchyard.classifier.local import DEFAULT_HPARAMS, LocalClassifier, fit  # noqa: E402
from switchyard.classifier.metrics import routing_report  # noqa: E402

FOLDS = 5


def _folds(rows: list[Example]) -> list[int]:
    by: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by[f"{r.intent}:{r.follow_up}:{r.complexity}"].append(i)
    fold = [0] * len(rows)
    rng = np.random.default_rng(7)
    for idx in by.values():
        for k, i in enumerate(rng.permutation(idx)):
            fold[int(i)] = k % FOLDS
    return fold


def main() -> None:
    from switchyard.embeddings import get_embedder

    d = ROOT / "data" / "routing"
    rows = load_labeled(d / "train.jsonl") + load_labeled(d / "dev.jsonl")
    emb_all = get_embedder().embed([r.text for r in rows])
    hist_texts = sorted({h for r in rows for h in r.history})
    hist_emb = dict(zip(hist_texts, get_embedder().embed(hist_texts), strict=True))
    fold = np.array(_folds(rows))
    fit_grid = list(itertools.product([4.0, 16.0], [16.0, 64.0]))
    mix_grid = list(itertools.product([0.2, 0.4, 0.6], [0.0, 0.2], [0.2, 0.3, 0.5]))
    preds: dict[tuple, list] = defaultdict(lambda: [None] * len(rows))
    for f in range(FOLDS):
        tr = [r for r, k in zip(rows, fold, strict=True) if k != f]
        te_idx = [i for i, k in enumerate(fold) if k == f]
        te = [rows[i] for i in te_idx]
        turns = [r.history[-3:] for r in te]
        h_embs = [np.vstack([hist_emb[h] for h in ts]) if ts else None for ts in turns]
        for cc, ci in fit_grid:
            model = fit(tr, emb_all[fold != f], {"C_complexity": cc, "C_intent": ci})
            for wd, wk, temp in mix_grid:
                model.hparams = {**DEFAULT_HPARAMS, "C_complexity": cc, "C_intent": ci, "w_direct": wd,
                                 "w_knn": wk, "w_intent": max(0.0, 1 - wd - wk), "temperature": temp}
                out = LocalClassifier(model)._classify_batch([r.text for r in te], emb_all[te_idx], turns, h_embs)
                for i, p in zip(te_idx, out, strict=True):
                    preds[(cc, ci, wd, wk, temp)][i] = p
        print(f"fold {f + 1}/{FOLDS} done", flush=True)
    results = []
    for key, ps in preds.items():
        rep = routing_report(rows, ps)
        score = rep["tier_accuracy"] + rep["high_recall"] - 3 * rep["high_to_fast_rate"]
        results.append((score, key, rep))
    results.sort(key=lambda x: -x[0])
    for score, key, rep in results[:8]:
        print(f"{score:.4f} C_c={key[0]} C_i={key[1]} w_direct={key[2]} w_knn={key[3]} T={key[4]} "
              f"acc={rep['tier_accuracy']:.4f} high_recall={rep['high_recall']:.4f} "
              f"high_fast={rep['high_to_fast_rate']:.4f} over={rep['over_routing_rate']:.4f}")


if __name__ == "__main__":
    main()
