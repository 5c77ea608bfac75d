"""Pick the local classifier's hyper-parameters on the DEV split (fit on train only).

    .venv/bin/python scripts/tune_classifier.py [--grid]

The test split is not read here. Chosen values go into DEFAULT_HPARAMS in
switchyard/classifier/local.py.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from switchyard.classifier.data import load_labeled  # noqa: E402
from switchyard.classifier.local import DEFAULT_HPARAMS, LocalClassifier, fit  # noqa: E402
from switchyard.classifier.metrics import routing_report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grid", action="store_true")
    args = ap.parse_args()
    from switchyard.embeddings import get_embedder

    d = ROOT / "data" / "routing"
    train, dev = load_labeled(d / "train.jsonl"), load_labeled(d / "dev.jsonl")
    emb = get_embedder().embed([r.text for r in train])
    dev_emb = get_embedder().embed([r.text for r in dev])
    turns = [r.history[-3:] for r in dev]
    flat = [t for ts in turns for t in ts]
    flat_emb = get_embedder().embed(flat)
    h_embs: list[np.ndarray | None] = []
    pos = 0
    for ts in turns:
        h_embs.append(flat_emb[pos : pos + len(ts)] if ts else None)
        pos += len(ts)
    grid: list[dict[str, float]] = [{}]
    if args.grid:
        keys = {
            "C_complexity": [4.0, 16.0, 64.0],
            "C_intent": [16.0, 64.0],
            "w_direct": [0.2, 0.4, 0.6],
            "w_knn": [0.0, 0.2, 0.4],
            "temperature": [0.2, 0.3, 0.45, 0.7, 1.0],
        }
        grid = [dict(zip(keys, v, strict=True)) for v in itertools.product(*keys.values())]
    best = None
    cache: dict[tuple, object] = {}
    for g in grid:
        hp = {**DEFAULT_HPARAMS, **g}
        hp["w_intent"] = max(0.0, 1.0 - hp["w_direct"] - hp["w_knn"])
        key = (hp["C_complexity"], hp["C_intent"])
        model = cache.get(key)
        if model is None:
            model = cache[key] = fit(train, emb, hp)
        model.hparams = hp  # type: ignore[attr-defined]
        clf = LocalClassifier(model)  # type: ignore[arg-type]
        preds = clf._classify_batch([r.text for r in dev], dev_emb, turns, h_embs)
        rep = routing_report(dev, preds)
        score = rep["tier_accuracy"] - 2 * rep["high_to_fast_rate"] + 0.5 * rep["high_recall"]
        if best is None or score > best[0]:
            best = (score, g, rep)
        if not args.grid:
            print(rep)
    assert best is not None
    print("best", best[1], {k: round(v, 4) for k, v in best[2].items() if isinstance(v, float)})


if __name__ == "__main__":
    main()
