"""Classifier benchmark: warm single-request latency (embedding included) and CLI throughput.

    .venv/bin/python benchmarks/bench_classifier.py [--n 300] [--lines 3000]

1. In-process: median/p95 of ``sy.encoder.embed_one(text)`` + ``sy.classifier.classify(text,
   embedding=...)`` (``sy = Switchyard()``) over distinct texts (the embedder's LRU is bypassed by
   making every text unique), after warm-up.
2. ``switchyard classify`` on a ``--lines``-line JSONL file, wall time including interpreter and
   model start-up (a subprocess of this interpreter: ``python -m switchyard classify``).

Both use SWITCHYARD_HOME (the first run there fits the classifier before timing).

``--outcome-head`` instead times the router's per-request overhead with and without an outcome
head (``route train --outcomes``, docs/outcomes.md), interleaved in one run on the same texts:
embedding + classify, medians in ms. The home must hold an outcome head.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from switchyard import Switchyard

ROOT = Path(__file__).resolve().parent.parent


def _texts() -> list[str]:
    rows = [json.loads(x) for x in (ROOT / "switchyard" / "domains" / "quillstack" / "routing" / "test.jsonl").read_text().splitlines()]
    return [r["text"] for r in rows]


def bench_latency(sy: Switchyard, n: int) -> dict[str, float]:
    clf, emb = sy.classifier, sy.encoder
    base = _texts()
    for t in base[:20]:  # warm-up: model, torch kernels, caches
        clf.classify(t, embedding=emb.embed_one(t))
    total, embed_only, classify_only = [], [], []
    for i in range(n):
        text = f"{base[i % len(base)]} (ref {i})"  # unique: no embedding LRU hits
        t0 = time.perf_counter()
        vec = emb.embed_one(text)
        t1 = time.perf_counter()
        clf.classify(text, embedding=vec)
        t2 = time.perf_counter()
        total.append((t2 - t0) * 1000)
        embed_only.append((t1 - t0) * 1000)
        classify_only.append((t2 - t1) * 1000)
    q = statistics.quantiles(total, n=20)
    return {
        "n": n,
        "median_ms_total": statistics.median(total),
        "p95_ms_total": q[18],
        "median_ms_embedding": statistics.median(embed_only),
        "median_ms_classifier_heads": statistics.median(classify_only),
    }


def bench_outcome_head(sy: Switchyard, n: int) -> dict[str, float]:
    """Embedding + classify per request, with the outcome head and without it, alternating."""
    from switchyard.classifier.local import LocalClassifier

    with_head = sy.classifier
    if getattr(with_head, "outcome", None) is None:
        raise SystemExit("this home has no outcome head: run `switchyard route train --outcomes FILE`")
    without = LocalClassifier(sy.settings, sy.encoder, model=with_head.model)
    without._outcome = without._outcome_prices = None  # the same heads, routing by complexity
    emb, base = sy.encoder, _texts()
    for t in base[:20]:
        with_head.classify(t, embedding=emb.embed_one(t))
        without.classify(t, embedding=emb.embed_one(t))
    times: dict[str, list[float]] = {"without": [], "with": []}
    for i in range(n):
        order = (("without", without), ("with", with_head)) if i % 2 else (
            ("with", with_head), ("without", without))
        for name, clf in order:
            text = f"{base[i % len(base)]} (ref {i} {name})"  # unique: no embedding LRU hits
            t0 = time.perf_counter()
            clf.classify(text, embedding=emb.embed_one(text))
            times[name].append((time.perf_counter() - t0) * 1000)
    out = {f"median_ms_{k}_outcome_head": statistics.median(v) for k, v in times.items()}
    out["n"] = n
    out["overhead_pct"] = 100 * (out["median_ms_with_outcome_head"]
                                 / out["median_ms_without_outcome_head"] - 1)
    return out


def bench_cli(lines: int) -> dict[str, float]:
    base = _texts()
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        src.write_text("".join(json.dumps({"id": i, "text": f"{base[i % len(base)]} #{i}"}) + "\n"
                               for i in range(lines)))
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "switchyard", "classify", "--in", str(src),
                        "--out", str(dst)], check=True, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        out = dst.read_text().splitlines()
    return {"lines": lines, "output_lines": len(out), "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="in-process requests timed (at least 2)")
    ap.add_argument("--lines", type=int, default=3000, help="lines for `switchyard classify`")
    ap.add_argument("--outcome-head", action="store_true",
                    help="time the router with and without its outcome head, interleaved")
    args = ap.parse_args()
    if args.n < 2 or args.lines < 1:
        ap.error("--n must be at least 2 and --lines at least 1")
    if args.outcome_head:
        with Switchyard() as sy:
            got = bench_outcome_head(sy, args.n)
        print(json.dumps({"outcome_head": {k: round(v, 3) for k, v in got.items()}}))
        return
    with Switchyard() as sy:
        lat = bench_latency(sy, args.n)
    print(json.dumps({"latency": {k: round(v, 3) for k, v in lat.items()}}))
    cli = bench_cli(args.lines)
    print(json.dumps({"cli": {k: round(v, 2) for k, v in cli.items()}}))


if __name__ == "__main__":
    main()
