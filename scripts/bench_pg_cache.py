"""Lookup latency of the PostgreSQL + pgvector cache at 100,000 entries, beside the embedded
FAISS backend filled with the same entries, measured in the same run (not a timed test).

Layout (one tenant): a public ``fast`` partition of 30% of the entries, a public ``standard``
one of 10%, and the rest in user partitions of 5 entries each. Vectors are random unit vectors;
each query is an existing entry's vector plus a little noise (cosine ~0.95), with a text that
is not an exact match, so every lookup takes the semantic path (HNSW / flat search, threshold,
guard) and should hit its own entry. Half of the queries go to the public ``fast`` partition,
half to random user partitions. Lookups are given the embedding (no encoder in the figure).

Run (a server from ``scripts/dev-postgres.sh start``; a scratch database is created and dropped):
``.venv/bin/python scripts/bench_pg_cache.py --url postgresql://... [--entries 100000] [--queries 500]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from switchyard.cache import CachedAnswer, Partition, SemanticCache
from switchyard.cache.faiss_backend import FaissSemanticCache
from switchyard.settings import CacheSettings

DIM = 384


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def part(user: str | None, tier: str = "fast") -> Partition:
    return Partition.for_request(tenant="acme", user_id=user, personal=user is not None,
                                 key=b"bench-key", tier=tier, prompt_version=1,
                                 toolset_version=1, kb_version=1)


def layout(n: int, rng: np.random.Generator) -> list[tuple[str, Partition]]:
    out: list[tuple[str, Partition]] = []
    n_fast, n_std = int(n * 0.3), int(n * 0.1)
    out += [(f"public fast question {i}", part(None, "fast")) for i in range(n_fast)]
    out += [(f"public standard question {i}", part(None, "standard")) for i in range(n_std)]
    for i in range(n - n_fast - n_std):
        user = f"u-{i // 5:05d}"
        out.append((f"question {i % 5} of user {user}", part(user)))
    return out


def fill(cache: SemanticCache, entries: list[tuple[str, Partition]], vecs: np.ndarray,
         chunk: int = 2000) -> float:
    now = time.time()
    start = time.perf_counter()
    for lo in range(0, len(entries), chunk):
        batch = []
        for (text, p), v in zip(entries[lo:lo + chunk], vecs[lo:lo + chunk], strict=True):
            ans = CachedAnswer.create(answer=f"answer to {text}", agent=p.tier, model="m",
                                      intent="faq", complexity="low", original_text=text,
                                      ttl_s=3600, now=now)
            batch.append((text, v, p, ans))
        stored = cache.store_many(batch, now=now)  # type: ignore[attr-defined]
        assert stored == len(batch), (stored, len(batch))
    return time.perf_counter() - start


def measure(cache: SemanticCache, queries: list[tuple[str, np.ndarray, Partition, str]],
            warmup: int = 50) -> dict[str, object]:
    for text, q, p, _ in queries[:warmup]:
        cache.lookup(text, q, p)
    by_kind: dict[str, list[float]] = {"public": [], "user": []}
    hits = 0
    for text, q, p, want in queries:
        t0 = time.perf_counter()
        v = cache.lookup(text, q, p)
        by_kind["public" if p.is_public else "user"].append((time.perf_counter() - t0) * 1000)
        hits += bool(v.hit and v.answer and v.answer.original_text == want)
    every = by_kind["public"] + by_kind["user"]

    def summary(ms: list[float]) -> dict[str, float]:
        return {"n": len(ms), "median_ms": round(statistics.median(ms), 3),
                "p95_ms": round(float(np.percentile(ms, 95)), 3)}

    return {"all": summary(every), "public_fast_partition": summary(by_kind["public"]),
            "user_partitions": summary(by_kind["user"]), "hit_own_entry": hits / len(queries)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default=os.environ.get("SWITCHYARD_DATABASE_URL"),
                    help="PostgreSQL server URL (default SWITCHYARD_DATABASE_URL)")
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database (analysis)")
    ap.add_argument("--ef-search", type=int, default=None,
                    help="HNSW candidates per lookup (default: pgvector's 40)")
    args = ap.parse_args()
    if not args.url:
        print("no database: pass --url or set SWITCHYARD_DATABASE_URL "
              "(scripts/dev-postgres.sh start prints one)", file=sys.stderr)
        return 2
    if args.entries < 1000 or args.queries < 10:
        print("--entries must be >= 1000 and --queries >= 10", file=sys.stderr)
        return 2

    import psycopg
    from psycopg.conninfo import make_conninfo

    from switchyard.cache.pg_backend import PgSemanticCache
    from switchyard.pg.pool import DatabaseUnavailable, check_reachable, open_pool
    from switchyard.pg.schema import migrate

    try:
        check_reachable(args.url)
    except DatabaseUnavailable as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1

    rng = np.random.default_rng(args.seed)
    entries = layout(args.entries, rng)
    vecs = unit(rng.standard_normal((len(entries), DIM)))
    n_fast = int(args.entries * 0.3)
    user_lo = n_fast + int(args.entries * 0.1)
    queries = []
    for i in range(args.queries):
        idx = int(rng.integers(0, n_fast)) if i % 2 == 0 else int(rng.integers(user_lo, len(entries)))
        text, p = entries[idx]
        q = unit((vecs[idx] + 0.018 * rng.standard_normal(DIM))[None, :])[0]
        queries.append((text + " please", q, p, text))
    settings = CacheSettings(max_entries=args.entries * 2)
    report: dict[str, object] = {"entries": args.entries, "queries": args.queries,
                                 "ef_search": args.ef_search or 40,
                                 "cpu_count": os.cpu_count(),
                                 "loadavg_start": [round(x, 2) for x in os.getloadavg()]}

    name = f"switchyard_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(args.url, dbname=name)
    try:
        migrate(url, checkpoints=False)
        pool = open_pool(url, max_size=2, ef_search=args.ef_search)
        pg = PgSemanticCache(pool, settings)
        with pool.connection() as conn:
            # Bulk load: the HNSW index is built once after the fill (as for any large load)
            # instead of row by row; its definition is the schema's, unchanged.
            ddl = conn.execute("SELECT indexdef FROM pg_indexes"
                               " WHERE indexname = 'sy_cache_entries_hnsw'").fetchone()[0]
            conn.execute("DROP INDEX sy_cache_entries_hnsw")
        report["postgres_fill_s"] = round(fill(pg, entries, vecs), 1)
        with pool.connection() as conn:
            t0 = time.perf_counter()
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute(ddl)
            report["postgres_hnsw_build_s"] = round(time.perf_counter() - t0, 1)
            conn.execute("VACUUM ANALYZE sy_cache_entries")  # what autovacuum would do
        report["postgres"] = measure(pg, queries)
        pg.close()
        pool.close()
    finally:
        if args.keep:
            print(f"kept database {name}", file=sys.stderr)
        else:
            with psycopg.connect(args.url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    with tempfile.TemporaryDirectory() as tmp:
        fa = FaissSemanticCache(Path(tmp) / "cache.sqlite", settings)
        report["faiss_fill_s"] = round(fill(fa, entries, vecs), 1)
        report["faiss"] = measure(fa, queries)
        fa.close()
    report["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
