"""Lookup latency and recall of the PostgreSQL + pgvector cache at 100,000 entries, per partition
shape, beside the embedded FAISS backend filled with the same entries, in one run (not a test).

Every partition shape a deployment meets lives in the same table, so each query's plan sees the
others (the filter's selectivity is what makes or breaks a filtered vector search):

* ``big_public``: one public partition holding 40% of the table (one big tenant's FAQ);
* ``mid_tenants``: 5 tenants' public partitions of 4% each (the hardest: too big to sort
  exactly for free, too selective for an unfiltered HNSW scan);
* ``small_tenants``: 100 tenants' public partitions of 0.2% each;
* ``users``: personal partitions of 5 entries each.

Vectors are random unit vectors (the worst case for HNSW recall: real embeddings cluster). Each
query is an entry's vector plus noise (cosine ~0.98, above the default threshold) with a text
that is not an exact match, so every lookup takes the semantic path and should hit its entry.
``recall`` is recall@1 against exact search: the share of lookups whose best candidate is the
true nearest live neighbour in the partition (brute force in numpy). Lookups are given the
embedding (no encoder in the figure); one lookup at a time.

Run (a server from ``scripts/dev-postgres.sh start``; a scratch database is created and dropped):
``.venv/bin/python benchmarks/bench_pg_cache.py --url postgresql://... [--entries 100000]``
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from switchyard.cache import CachedAnswer, Partition, SemanticCache
from switchyard.cache.faiss_backend import FaissSemanticCache
from switchyard.core.settings import CacheSettings

DIM = 384
NOISE = 0.01  # per-dimension noise: cosine(query, entry) ~ 1 / sqrt(1 + 384 * 0.01**2) ~ 0.98
# shape -> (share of all entries, entries per partition or None for one partition)
SHAPES: dict[str, tuple[float, int | None]] = {
    "big_public": (0.40, None),
    "mid_tenants": (0.20, None),  # split into 5 below
    "small_tenants": (0.20, None),  # split into 100 below
    "users": (0.20, 5),
}
_SPLIT = {"mid_tenants": 5, "small_tenants": 100}


@dataclass(frozen=True)
class Entry:
    text: str
    partition: Partition
    shape: str


def part(tenant: str, user: str | None = None) -> Partition:
    return Partition.for_request(tenant=tenant, user_id=user, personal=user is not None,
                                 key=b"bench-key", tier="fast", prompt_version=1,
                                 toolset_version=1, kb_version=1)


def layout(n: int) -> list[Entry]:
    out: list[Entry] = []
    for shape, (share, per) in SHAPES.items():
        count = int(n * share)
        for i in range(count):
            if shape == "big_public":
                p, text = part("big"), f"big tenant question {i}"
            elif shape == "users":
                user = f"u-{i // (per or 1):05d}"
                p, text = part("acme", user), f"question {i % (per or 1)} of user {user}"
            else:
                t = i % _SPLIT[shape]
                p, text = part(f"{shape}-{t:03d}"), f"{shape} {t} question {i}"
            out.append(Entry(text, p, shape))
    return out


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def fill(cache: SemanticCache, entries: list[Entry], vecs: np.ndarray, chunk: int = 2000) -> float:
    now = time.time()
    start = time.perf_counter()
    for lo in range(0, len(entries), chunk):
        batch = []
        for e, v in zip(entries[lo:lo + chunk], vecs[lo:lo + chunk], strict=True):
            ans = CachedAnswer.create(answer=f"answer to {e.text}", agent="fast", model="m",
                                      intent="faq", complexity="low", original_text=e.text,
                                      ttl_s=3600, now=now)
            batch.append((e.text, v, e.partition, ans))
        stored = cache.store_many(batch, now=now)  # type: ignore[attr-defined]
        if stored != len(batch):
            raise RuntimeError(f"stored {stored} of {len(batch)} entries: settings refuse them")
    return time.perf_counter() - start


@dataclass(frozen=True)
class Query:
    text: str
    vec: np.ndarray
    partition: Partition
    shape: str
    want: str  # the entry's own text
    best_sim: float  # exact nearest neighbour's similarity in the partition


def make_queries(entries: list[Entry], vecs: np.ndarray, per_shape: int,
                 rng: np.random.Generator) -> list[Query]:
    members: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        members.setdefault(e.partition.label, []).append(i)
    by_shape: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        by_shape.setdefault(e.shape, []).append(i)
    queries = []
    for shape in SHAPES:
        for idx in rng.choice(by_shape[shape], size=per_shape, replace=False):
            e = entries[int(idx)]
            q = unit((vecs[idx] + NOISE * rng.standard_normal(DIM))[None, :])[0]
            best = float(np.max(vecs[members[e.partition.label]] @ q))
            queries.append(Query(e.text + " please", q, e.partition, shape, e.text, best))
    order = rng.permutation(len(queries))  # interleave shapes: no shape gets a warm streak
    return [queries[i] for i in order]


def summary(ms: list[float], hits: int, found: int) -> dict[str, float]:
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 3),
            "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "recall_at_1": round(found / len(ms), 4), "hit_own_entry": round(hits / len(ms), 4)}


def measure(cache: SemanticCache, queries: list[Query], warmup: int = 100) -> dict[str, object]:
    for q in queries[:warmup]:
        cache.lookup(q.text, q.vec, q.partition)
    ms: dict[str, list[float]] = {s: [] for s in SHAPES}
    hits: dict[str, int] = dict.fromkeys(SHAPES, 0)
    found: dict[str, int] = dict.fromkeys(SHAPES, 0)
    for q in queries:
        t0 = time.perf_counter()
        v = cache.lookup(q.text, q.vec, q.partition)
        ms[q.shape].append((time.perf_counter() - t0) * 1000)
        hits[q.shape] += bool(v.hit and v.answer and v.answer.original_text == q.want)
        # The verdict reports the best candidate's full-precision similarity, hit or miss.
        found[q.shape] += v.similarity is not None and v.similarity >= q.best_sim - 1e-4
    out: dict[str, object] = {s: summary(ms[s], hits[s], found[s]) for s in SHAPES}
    out["all"] = summary([x for s in SHAPES for x in ms[s]], sum(hits.values()),
                         sum(found.values()))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default=os.environ.get("SWITCHYARD_DATABASE_URL"),
                    help="PostgreSQL server URL (default SWITCHYARD_DATABASE_URL)")
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=250, help="queries per partition shape")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database (analysis)")
    ap.add_argument("--ef-search", default=None,
                    help="HNSW candidates per lookup, or several comma-separated values to compare"
                         " in the same run (default: the pool's)")
    ap.add_argument("--skip-faiss", action="store_true", help="Postgres figures only")
    args = ap.parse_args()
    if not args.url:
        print("no database: pass --url or set SWITCHYARD_DATABASE_URL "
              "(scripts/dev-postgres.sh start prints one)", file=sys.stderr)
        return 2
    if args.entries < 10_000 or args.queries < 10:
        print("--entries must be >= 10000 and --queries >= 10", file=sys.stderr)
        return 2
    try:
        efs = [int(x) for x in args.ef_search.split(",")] if args.ef_search else [None]
    except ValueError:
        efs = [0]
    if not all(e is None or 1 <= e <= 1000 for e in efs):
        print("--ef-search takes integers between 1 and 1000, comma-separated", file=sys.stderr)
        return 2

    import psycopg
    from psycopg.conninfo import make_conninfo

    from switchyard.cache.pg_backend import EXACT_SCAN_MAX, PgSemanticCache
    from switchyard.pg.pool import (
        DEFAULT_EF_SEARCH,
        DatabaseUnavailable,
        check_reachable,
        open_pool,
    )
    from switchyard.pg.schema import migrate

    try:
        check_reachable(args.url)
    except DatabaseUnavailable as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1

    rng = np.random.default_rng(args.seed)
    entries = layout(args.entries)
    vecs = unit(rng.standard_normal((len(entries), DIM)))
    queries = make_queries(entries, vecs, args.queries, rng)
    settings = CacheSettings(max_entries=args.entries * 2)
    report: dict[str, object] = {
        "entries": len(entries), "queries_per_shape": args.queries,
        "exact_scan_max": EXACT_SCAN_MAX, "cpu_count": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }

    name = f"switchyard_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(args.url, dbname=name)
    try:
        migrate(url, checkpoints=False)
        pool = open_pool(url, max_size=2)  # for the fill; each measurement opens its own
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
        pg.close()
        pool.close()
        for ef in efs:  # a pool per value: ef_search is set once per connection
            pool = open_pool(url, max_size=2, ef_search=ef)
            pg = PgSemanticCache(pool, settings)
            report[f"postgres_ef{ef or DEFAULT_EF_SEARCH}"] = measure(pg, queries)
            pg.close()
            pool.close()
    finally:
        if args.keep:
            print(f"kept database {name}", file=sys.stderr)
        else:
            with psycopg.connect(args.url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    if not args.skip_faiss:
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
