"""Benchmark the semantic cache with 100,000 entries (not a timed test; figures go in the report).

Distribution (one tenant, realistic skew): a public ``fast`` partition with 30,000 entries, a public
``standard`` partition with 10,000, and 60,000 entries spread over ~12,000 user partitions whose
sizes follow a geometric distribution (mean 5, a few heavy users with dozens). Entry vectors are
synthesised: real MiniLM embeddings of ~300 Quillstack questions, jittered with Gaussian noise
and re-normalised, so the index has realistic clusters without embedding 100k texts on this CPU.
Query embeddings are real (the embedder runs on each query text).

Measures
  (a) the cache's own lookup given the embedding (median, p95), per partition kind;
  (b) the whole path before routing, warm: one embedding of a previously unseen text, the
      classifier sharing that embedding, the cache policy, the partition and the lookup;
  (c) the same-question check's cost: the same lookups with the check on and off, interleaved
      query by query, on a partition of the ~300 real base questions (the synthetic entries'
      "(variant k)" suffix would make the guard reject them first), with the guard's and the
      check's text caches cleared before every lookup (both sides parse cold, which overstates
      the cost), at the default threshold and at 0.5, where most candidates reach the check;
  plus the time to rebuild the in-memory indexes from SQLite (a restart).

Run: ``.venv/bin/python benchmarks/bench_cache.py [--entries 100000] [--queries 400]``
(the encoder and classifier are the front door's, ``Switchyard()``, built in SWITCHYARD_HOME: the
first run there fits the classifier; the cache under test is a scratch one in a temp dir).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from switchyard import Switchyard
from switchyard.cache import CachedAnswer, Partition, cache_policy
from switchyard.cache.faiss_backend import FaissSemanticCache
from switchyard.core.domain import is_personal_intent
from switchyard.core.pack import default_pack_dir, load_pack
from switchyard.core.settings import CacheSettings

# The bundled pack's cache pairs, where its manifest declares them ([paths] cache_pairs).
PACK = load_pack(default_pack_dir())


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p95_ms": round(pct(ms, 95), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def load_texts() -> tuple[list[str], list[str]]:
    rows = [
        json.loads(line) for line in PACK.data_file("cache_pairs").read_text().splitlines()
    ]
    bases = sorted({r["a"] for r in rows})
    queries = sorted({r["b"] for r in rows} - set(bases))
    return bases, queries


def part(user: str | None, tier: str = "fast") -> Partition:
    return Partition.for_request(
        tenant="acme",
        user_id=user,
        personal=user is not None,
        key=b"bench-cache",
        tier=tier,
        prompt_version=1,
        toolset_version=1,
        kb_version=1,
    )


def populate(
    cache: FaissSemanticCache,
    base_vecs: np.ndarray,
    bases: list[str],
    total: int,
    rng: np.random.Generator,
) -> list[str]:
    n_pub_fast, n_pub_std = int(total * 0.30), int(total * 0.10)
    n_user = total - n_pub_fast - n_pub_std
    sizes: list[int] = []
    while sum(sizes) < n_user:
        sizes.append(int(rng.geometric(0.2)))
    sizes[-1] -= sum(sizes) - n_user
    users = [f"user-{i:05d}" for i in range(len(sizes))]
    plan = [(part(None, "fast"), n_pub_fast), (part(None, "standard"), n_pub_std)]
    plan += [(part(u), s) for u, s in zip(users, sizes, strict=True) if s > 0]
    now = time.time()
    batch: list = []
    k = 0
    for p, n in plan:
        for _ in range(n):
            i = int(rng.integers(len(bases)))
            v = base_vecs[i] + rng.normal(
                0, 0.35 / np.sqrt(base_vecs.shape[1]), base_vecs.shape[1]
            ).astype(np.float32)
            v /= np.linalg.norm(v)
            text = f"{bases[i]} (variant {k})"
            ans = CachedAnswer.create(
                answer=f"synthetic answer {k} " + "lorem ipsum " * 20,
                agent="fast",
                model="bench",
                intent="faq",
                complexity="low",
                original_text=text,
                ttl_s=3600.0 + float(rng.integers(3600)),
                now=now,
            )
            batch.append((text, v, p, ans))
            k += 1
            if len(batch) >= 5000:
                cache.store_many(batch)
                batch = []
    if batch:
        cache.store_many(batch)
    return users


def verification_cost(
    cache: FaissSemanticCache,
    bases: list[str],
    base_vecs: np.ndarray,
    qtexts: list[str],
    qvecs: np.ndarray,
) -> dict[str, object]:
    """Median lookup with and without the same-question check, from one run (see (c)).

    The 100k synthetic entries carry "(variant k)" in their text, so the guard rejects them
    before the check could run. The check is measured on a partition of the real base questions
    instead, where the hand-written queries' top-k candidates do reach it.
    """
    from switchyard.cache.guard import extract_facts
    from switchyard.cache.verify import _parse

    p = Partition.for_request(
        tenant="verify-bench",
        user_id=None,
        personal=False,
        key=b"bench-cache",
        tier="fast",
        prompt_version=1,
        toolset_version=1,
        kb_version=1,
    )
    cache.store_many(
        [
            (
                text,
                vec,
                p,
                CachedAnswer.create(
                    answer="a",
                    agent="fast",
                    model="bench",
                    intent="faq",
                    complexity="low",
                    original_text=text,
                    ttl_s=3600.0,
                ),
            )
            for text, vec in zip(bases, base_vecs, strict=True)
        ]
    )
    out: dict[str, object] = {"partition_entries": len(bases)}
    for label, threshold in (("default_threshold", None), ("threshold_0.5", 0.5)):
        times: dict[bool, list[float]] = {True: [], False: []}
        rejected = hits_on = hits_off = 0
        for i, (t, v) in enumerate(zip(qtexts, qvecs, strict=True)):
            for verify in (True, False) if i % 2 else (False, True):
                cache.settings.verify_same_question = verify
                extract_facts.cache_clear()
                _parse.cache_clear()
                s = time.perf_counter()
                verdict = cache.lookup(t, v, p, threshold=threshold)
                times[verify].append((time.perf_counter() - s) * 1e3)
                rejected += verify and verdict.reason.startswith("verify:")
                hits_on += verify and verdict.hit
                hits_off += (not verify) and verdict.hit
        cache.settings.verify_same_question = True
        on, off = statistics.median(times[True]), statistics.median(times[False])
        out[label] = {
            "with_check": summary(times[True]),
            "without_check": summary(times[False]),
            "median_added_ms": round(on - off, 3),
            "ratio": round(on / off, 3) if off else None,
            # Lookups whose candidates reached the check: every hit with it on, plus rejections.
            "lookups_reaching_check": hits_on + rejected,
            "rejected_by_check": rejected,
            "hits_with_check": hits_on,
            "hits_without_check": hits_off,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    with Switchyard() as sy:
        report = run(sy, args)
    print(json.dumps(report, indent=2))


def run(sy: Switchyard, args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(args.seed)
    emb = sy.encoder
    bases, queries = load_texts()
    base_vecs = emb.embed(bases)
    settings = CacheSettings(max_entries=max(200_000, args.entries * 2))
    report: dict = {
        "entries": args.entries,
        "distribution": {
            "public_fast": int(args.entries * 0.30),
            "public_standard": int(args.entries * 0.10),
            "user_partitions": "geometric sizes, mean 5",
            "user_entries": args.entries - int(args.entries * 0.4),
        },
    }

    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        path = Path(tmp) / "cache.sqlite"
        cache = FaissSemanticCache(path, settings)
        t0 = time.perf_counter()
        users = populate(cache, base_vecs, bases, args.entries, rng)
        report["populate_s"] = round(time.perf_counter() - t0, 1)
        report["user_partitions"] = len(users)
        report["stats"] = {k: cache.stats()[k] for k in ("entries", "bytes", "partitions")}
        cache.close()

        t0 = time.perf_counter()
        cache = FaissSemanticCache(path, settings)  # a restart: rebuild indexes from SQLite
        report["reload_s"] = round(time.perf_counter() - t0, 2)

        qtexts = queries[: args.queries]
        qvecs = emb.embed(qtexts)
        # (a) lookup given the embedding.
        for _ in range(50):  # warm-up
            cache.lookup(qtexts[0], qvecs[0], part(None))
        pub, usr, hits = [], [], 0
        for t, v in zip(qtexts, qvecs, strict=True):
            s = time.perf_counter()
            verdict = cache.lookup(t, v, part(None, "fast"))
            pub.append((time.perf_counter() - s) * 1e3)
            hits += verdict.hit
            u = users[int(rng.integers(len(users)))]
            s = time.perf_counter()
            cache.lookup(t, v, part(u))
            usr.append((time.perf_counter() - s) * 1e3)
        report["lookup_public_30k"] = summary(pub)
        report["lookup_user_partition"] = summary(usr)
        report["lookup_mixed"] = summary(pub + usr)
        report["verification"] = verification_cost(cache, bases, base_vecs, qtexts, qvecs)

        # (b) whole path before routing, warm, on texts the embedder has not seen.
        classifier = sy.classifier
        classifier.classify("warm up", embedding=emb.embed_one("warm up"))
        cs = settings
        fresh = [f"{t} please" if i % 2 else f"hi, {t.lower()}" for i, t in enumerate(qtexts)]
        for t in fresh[:20]:  # warm-up on other texts
            emb.embed_one(t + " (warm)")
        path_ms, emb_ms, cls_ms = [], [], []
        for i, text in enumerate(fresh):
            s = time.perf_counter()
            vec = emb.embed_one(text)
            e = time.perf_counter()
            c = classifier.classify(text, embedding=vec)
            complexity, intent, in_scope = c.complexity, c.intent, c.in_scope
            ce = time.perf_counter()
            pol = cache_policy(
                complexity=complexity, intent=intent, in_scope=in_scope, text=text, settings=cs
            )
            if pol.cacheable:
                personal = in_scope and is_personal_intent(intent)
                user = users[i % len(users)]
                p = part(
                    user if personal else None,
                    {"low": "fast", "medium": "standard"}.get(complexity, "fast"),
                )
                cache.lookup(text, vec, p)
            path_ms.append((time.perf_counter() - s) * 1e3)
            emb_ms.append((e - s) * 1e3)
            cls_ms.append((ce - e) * 1e3)
        report["path_before_routing"] = summary(path_ms)
        report["path_embedding_only"] = summary(emb_ms)
        report["path_classifier_only"] = summary(cls_ms)
        report["public_query_hits"] = hits
        cache.close()
    return report


if __name__ == "__main__":
    main()
