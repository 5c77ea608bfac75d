"""Shared backend: PostgreSQL + pgvector, so every replica sees one cache.

Same interface, rules and verdicts as the embedded FAISS backend (``faiss_backend.py``):

* **Partitions first.** Every query filters on (tenant, scope, tier, versions) and on the
  absolute expiry (``expires_at > now``): an entry from another partition or past its expiry is
  never even a candidate. A hit never extends the expiry.
* **Exact, then semantic.** One round trip (one statement) returns the exact-text row (unique
  key) and the top-k nearest neighbours by cosine distance. The search depends on the
  partition's size, read from ``sy_cache_partitions`` in the same statement: up to
  ``EXACT_SCAN_MAX`` entries an exact scan of the partition's half-precision vectors, from a
  covering index (an HNSW scan would have to skip every other partition's rows: slow at a few
  percent of the table, and approximate); above it the HNSW index (the pool sets
  ``hnsw.iterative_scan`` so the partition filter cannot starve the scan). Either way the
  similarity returned is full precision, and the same threshold, spelling and false-hit-guard
  rules then choose (``matching.choose``).
* **Bounds.** Totals are kept by statement-level triggers. After each store, expired entries
  are purged and, past a bound, the entries that expire soonest are evicted (one replica at a
  time, ``pg_try_advisory_xact_lock``; victims taken ``FOR UPDATE SKIP LOCKED``).
* **Counters** (hits, misses, ...) are buffered per process and flushed every 10 s, on
  ``stats()`` and on ``close()``, so a lookup is a read only.

The pool is the caller's (built with :func:`switchyard.pg.pool.open_pool`); ``close()`` does
not close it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from psycopg import Connection
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from switchyard.cache.base import (
    COUNTERS,
    CachedAnswer,
    CacheVerdict,
    Partition,
    SemanticCache,
    StoreFigures,
    verdict_counters,
)
from switchyard.cache.guard import normalize_text
from switchyard.cache.matching import Candidate, choose
from switchyard.cache.policy import store_refusal
from switchyard.core.settings import CacheSettings
from switchyard.pg.pool import describe_url
from switchyard.pg.schema import EMBEDDING_DIM, require_schema

_ENTRY_OVERHEAD = 160  # same per-entry bookkeeping estimate as the embedded backend
_EVICT_LOCK = 0x5379_4576_6963  # advisory lock: one evicting replica at a time
_FLUSH_EVERY_S = 10.0
# Up to this many entries a partition is searched exactly (every entry's half-precision vector,
# read from the covering index sy_cache_entries_scan); above it, by the HNSW index. Measured at
# 100k entries (benchmarks/bench_pg_cache.py): the exact scan of a 4,000-entry partition is ~4x
# faster than an HNSW scan that must skip the ~96% of rows belonging to other partitions, and
# finds the true nearest neighbour; a 40,000-entry partition is faster by HNSW.
EXACT_SCAN_MAX = 5000
_PART = "tenant = %(tenant)s AND scope = %(scope)s AND tier = %(tier)s AND versions = %(versions)s"
# One round trip: the exact-text row (answer only while live), then the k nearest live
# neighbours by ONE of two searches, chosen by the partition's entry count (a one-time filter:
# the other branch is never run). Both report full-precision similarity.
_LOOKUP = f"""
WITH part AS (SELECT coalesce(
    (SELECT n FROM sy_cache_partitions WHERE {_PART}), 0) AS n)
(SELECT 0, id, text, created_at, expires_at, 1.0::float8,
        CASE WHEN expires_at > %(now)s THEN answer END
   FROM sy_cache_entries
  WHERE {_PART} AND norm_key = md5(%(norm)s) AND norm_text = %(norm)s)
UNION ALL
(SELECT 1, e.id, e.text, e.created_at, e.expires_at, 1 - (e.embedding <=> %(q)s), e.answer
   FROM (SELECT id FROM sy_cache_entries
          WHERE {_PART} AND expires_at > %(now)s AND (SELECT n FROM part) <= {EXACT_SCAN_MAX}
          ORDER BY embedding_half <=> %(q)s::vector::halfvec({EMBEDDING_DIM})
          LIMIT %(k)s) near
   JOIN sy_cache_entries e USING (id))
UNION ALL
(SELECT 1, id, text, created_at, expires_at, 1 - (embedding <=> %(q)s), answer
   FROM sy_cache_entries
  WHERE {_PART} AND expires_at > %(now)s AND (SELECT n FROM part) > {EXACT_SCAN_MAX}
  ORDER BY embedding::halfvec({EMBEDDING_DIM}) <=> %(q)s::vector::halfvec({EMBEDDING_DIM})
  LIMIT %(k)s)
"""
_INSERT = """
INSERT INTO sy_cache_entries (tenant, scope, tier, versions, kb_version, norm_text, text, intent,
    complexity, created_at, expires_at, nbytes, embedding, answer)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (tenant, scope, tier, versions, norm_key) DO UPDATE SET
    kb_version = EXCLUDED.kb_version, text = EXCLUDED.text, intent = EXCLUDED.intent,
    complexity = EXCLUDED.complexity, created_at = EXCLUDED.created_at,
    expires_at = EXCLUDED.expires_at, nbytes = EXCLUDED.nbytes, embedding = EXCLUDED.embedding,
    answer = EXCLUDED.answer
"""


# An intent-key entry: the key is its norm_text (never a normalised question, which has no \x1f).
_LOOKUP_KEY = """
SELECT created_at, expires_at, answer FROM sy_cache_entries
WHERE tenant = %(tenant)s AND scope = %(scope)s AND tier = %(tier)s AND versions = %(versions)s
  AND norm_key = md5(%(norm)s) AND norm_text = %(norm)s
"""


class PgSemanticCache(SemanticCache):
    """Semantic cache shared by all replicas through one PostgreSQL database."""

    backend_name = "postgres+pgvector"

    def __init__(
        self,
        pool: ConnectionPool,
        settings: CacheSettings | None = None,
        *,
        dim: int = EMBEDDING_DIM,
        hash_key: bytes | None = None,
    ) -> None:
        super().__init__(settings, hash_key=hash_key)
        if dim != EMBEDDING_DIM:
            raise ValueError(f"the schema stores {EMBEDDING_DIM}-dim embeddings, got dim={dim}")
        self.dim = dim
        self.pool = pool
        with pool.connection() as conn:
            require_schema(conn)
            self._seal_legacy_rows(conn)
        self._lock = threading.Lock()  # guards the counter deltas only
        self._deltas: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self._last_flush = time.monotonic()
        self._closed = False

    def _seal_legacy_rows(self, conn: Connection) -> int:
        """Encrypt personal entries written before encryption at rest (a one-time migration on
        open: a no-op once done, or without the deployment's key). Rows are locked and skipped
        if another replica is sealing them at the same time."""
        if self._seal is None:
            return 0
        sealed = 0
        with conn.transaction():
            rows = self._rows(conn, "SELECT id, tenant, scope, tier, versions, norm_text, text,"
                                    " answer FROM sy_cache_entries WHERE scope <> 'public'"
                                    " AND answer NOT LIKE 'sy1:%' FOR UPDATE SKIP LOCKED")
            for eid, tenant, scope, tier, versions, norm, text, payload in rows:
                part = Partition(tenant=tenant, scope=scope, tier=tier, versions=versions)
                self._rows(conn, "UPDATE sy_cache_entries SET text = %s, norm_text = %s,"
                                 " answer = %s WHERE id = %s",
                           (*self._seal_row(part, text, norm, payload), eid))
                sealed += 1
        return sealed

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _rows(conn: Connection, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        # Explicit tuple rows: the caller's pool may default to dict rows (the checkpointer's).
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql, params)  # type: ignore[arg-type]  # module constants only
            return cur.fetchall() if cur.description else []

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._deltas[name] += n

    def _flush(self, conn: Connection) -> None:
        with self._lock:
            deltas = [(k, v) for k, v in self._deltas.items() if v]
            self._deltas = dict.fromkeys(COUNTERS, 0)
            self._last_flush = time.monotonic()
        if deltas:
            self._rows(
                conn,
                "INSERT INTO sy_cache_counters (name, value)"
                " SELECT * FROM unnest(%s::text[], %s::bigint[])"
                " ON CONFLICT (name) DO UPDATE SET value = sy_cache_counters.value + EXCLUDED.value",
                ([k for k, _ in deltas], [v for _, v in deltas]),
            )

    @staticmethod
    def _params(partition: Partition) -> dict[str, str]:
        return {
            "tenant": partition.tenant,
            "scope": partition.scope,
            "tier": partition.tier,
            "versions": partition.versions,
        }

    # -- reads --------------------------------------------------------------------------------
    def _lookup(
        self, text: str, embedding: np.ndarray, partition: Partition, *, now: float,
        threshold: float,
    ) -> CacheVerdict:
        q = np.ascontiguousarray(np.asarray(embedding, dtype=np.float32).reshape(-1))
        if q.shape[0] != self.dim:
            raise ValueError(f"embedding has {q.shape[0]} dims, expected {self.dim}")
        params = {
            **self._params(partition),
            "now": now,
            "norm": self._exact_key(partition, normalize_text(text)),
            "q": q,
            "k": self.settings.lookup_top_k,
        }
        with self.pool.connection() as conn:
            rows = self._rows(conn, _LOOKUP, params)
            verdict = self._decide(text, rows, partition.label, now, threshold)
            for name in verdict_counters(verdict):
                self._count(name)
            if time.monotonic() - self._last_flush > _FLUSH_EVERY_S:
                self._flush(conn)
        return verdict

    def lookup_key(
        self, key: str, partition: Partition, *, now: float | None = None
    ) -> CacheVerdict:
        now = time.time() if now is None else now
        label = partition.label
        with self.pool.connection() as conn:
            rows = self._rows(conn, _LOOKUP_KEY, {**self._params(partition),
                                                  "norm": self._exact_key(partition, key)})
        verdict = self._key_verdict(label, now, rows[0][:2] if rows else None,
                                    lambda: self._open_answer(rows[0][2]))
        for name in verdict_counters(verdict):
            self._count(name)
        return verdict

    def _decide(
        self, text: str, rows: list[tuple[Any, ...]], label: str, now: float, threshold: float
    ) -> CacheVerdict:
        exact = [r for r in rows if r[0] == 0]
        saw_expired = False
        answer = self._open_answer(exact[0][6]) if exact and exact[0][6] is not None else None
        if exact:
            _, _, _, created, _, _, payload = exact[0]
            if answer is not None:
                return CacheVerdict(
                    hit=True,
                    similarity=1.0,
                    partition=label,
                    entry_age_s=max(0.0, now - created),
                    match="exact",
                    reason="exact match",
                    answer=answer,
                )
            saw_expired = payload is None
        # relaxed_order may return neighbours slightly out of order: sort by similarity here.
        # A personal entry's text is sealed: opened here, in memory, for the false-hit guard
        # (one sealed under another secret is skipped: never a crash, never a wrong answer).
        opened = ((r, self._open_text(r[2])) for r in rows if r[0] == 1)
        near = sorted(((*r[:2], plain, *r[3:]) for r, plain in opened if plain),
                      key=lambda r: -r[5])
        if not exact and not near:
            return CacheVerdict(hit=False, partition=label, reason="miss: partition empty")
        answers = {r[1]: r[6] for r in near}
        choice = choose(
            text,
            (Candidate(float(r[5]), r[2], r[3], r[1]) for r in near),
            label=label,
            now=now,
            threshold=threshold,
            spelling_floor=self.settings.spelling_floor,
            verify=self.settings.verify_same_question,
            fetch=lambda c: self._open_answer(answers[c.ref]),
        )
        if choice.verdict is not None:
            return choice.verdict
        reason = choice.reason
        if saw_expired and reason == "miss":
            reason = "miss: entry expired"
        return CacheVerdict(hit=False, similarity=choice.best, partition=label, reason=reason)

    # -- writes -------------------------------------------------------------------------------
    def store(
        self, text: str, embedding: np.ndarray, partition: Partition, answer: CachedAnswer
    ) -> bool:
        return self.store_many([(text, embedding, partition, answer)]) == 1

    def store_many(
        self,
        items: list[tuple[str, np.ndarray, Partition, CachedAnswer]],
        *,
        now: float | None = None,
    ) -> int:
        """Store several entries in one transaction (bulk loads, benchmarks). Returns # stored."""
        return self._store_rows(
            [(text, normalize_text(text), emb, part, ans) for text, emb, part, ans in items], now)

    def store_key(self, key: str, partition: Partition, answer: CachedAnswer,
                  embedding: np.ndarray | None = None) -> bool:
        """The row holds the original request's text and embedding, so a similarity search that
        reaches it sees a real question (guarded like any other); ``key`` is its exact key."""
        self._check_key(key, partition)
        if embedding is None:
            raise ValueError("the Postgres cache stores an intent key with the request's embedding")
        return self._store_rows([(answer.original_text, key, embedding, partition, answer)]) == 1

    def _store_rows(
        self, items: list[tuple[str, str, np.ndarray, Partition, CachedAnswer]],
        now: float | None = None,
    ) -> int:
        """(text, exact key, embedding, partition, answer) rows in one transaction."""
        now = time.time() if now is None else now
        rows: dict[tuple[str, str], tuple[Any, ...]] = {}
        for text, norm, embedding, partition, answer in items:
            vec = np.ascontiguousarray(np.asarray(embedding, dtype=np.float32).reshape(-1))
            if store_refusal(text, vec, answer, now, self.settings, self.dim) is not None:
                self._count("store_refusals")
                continue
            text, norm, payload = self._seal_row(partition, text, norm, answer.model_dump_json())
            nbytes = (
                len(text.encode()) + len(norm.encode()) + len(payload.encode())
                + 4 * self.dim + _ENTRY_OVERHEAD
            )
            if nbytes > self.settings.max_bytes:
                self._count("store_refusals")
                continue
            # The same question twice in one batch: the later answer wins (one row per key).
            rows[(partition.label, norm)] = (
                partition.tenant, partition.scope, partition.tier, partition.versions,
                partition.kb_version, norm, text, answer.intent, answer.complexity,
                answer.created_at, answer.expires_at, nbytes, vec, payload,
            )
        if not rows:
            return 0
        with self.pool.connection() as conn:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(_INSERT, list(rows.values()))
            self._count("stores", len(rows))
            # Separate statements, after the insert committed: bounded work, no lock cycles.
            self._purge(conn, now)
            self._evict(conn)
            if time.monotonic() - self._last_flush > _FLUSH_EVERY_S:
                self._flush(conn)
        return len(rows)

    def _purge(self, conn: Connection, now: float) -> int:
        n = len(self._rows(
            conn, "DELETE FROM sy_cache_entries WHERE expires_at <= %s RETURNING id", (now,)
        ))
        self._count("expired_purged", n)
        return n

    def purge(self, now: float | None = None) -> int:
        """Delete expired entries now (lookups already ignore them). Returns # deleted."""
        with self.pool.connection() as conn:
            return self._purge(conn, time.time() if now is None else now)

    def _evict(self, conn: Connection) -> int:
        max_n, max_b = self.settings.max_entries, self.settings.max_bytes
        evicted = 0
        with conn.transaction():
            n, nbytes = self._rows(conn, "SELECT n, bytes FROM sy_cache_totals WHERE k = 0")[0]
            if n <= max_n and nbytes <= max_b:
                return 0
            if not self._rows(conn, "SELECT pg_try_advisory_xact_lock(%s)", (_EVICT_LOCK,))[0][0]:
                return 0  # another replica is evicting right now
            while n > max_n or nbytes > max_b:
                excess = max(n - max_n, 1)
                batch = self._rows(
                    conn,
                    "SELECT id, nbytes FROM sy_cache_entries ORDER BY expires_at, id"
                    " LIMIT %s FOR UPDATE SKIP LOCKED",
                    (max(excess, 32) if nbytes > max_b else excess,),
                )
                take = []
                for eid, size in batch:
                    if n <= max_n and nbytes <= max_b:
                        break
                    take.append(eid)
                    n -= 1
                    nbytes -= size
                if not take:
                    break
                self._rows(conn, "DELETE FROM sy_cache_entries WHERE id = ANY(%s)", (take,))
                evicted += len(take)
        self._count("evictions", evicted)
        return evicted

    # -- maintenance / stats --------------------------------------------------------------------
    def _location(self) -> str:
        return describe_url(self.pool.conninfo)

    def _figures(self) -> StoreFigures:
        with self.pool.connection() as conn:
            self._flush(conn)
            totals = self._rows(conn, "SELECT n, bytes FROM sy_cache_totals WHERE k = 0")[0]
            *times, expired = self._rows(
                conn,
                "SELECT min(created_at), max(created_at), min(expires_at), max(expires_at),"
                " count(*) FILTER (WHERE expires_at <= %s) FROM sy_cache_entries",
                (time.time(),),
            )[0]
            parts = self._rows(
                conn,
                "SELECT scope = 'public', count(DISTINCT (tenant, scope, tier, versions)),"
                " count(*) FROM sy_cache_entries GROUP BY 1",
            )
            counters = dict(self._rows(conn, "SELECT name, value FROM sy_cache_counters"))
        return StoreFigures.from_rows(totals=totals, times=tuple(times), expired=expired, scopes=parts,
                                      counters=counters)

    def _delete(self, where: str, params: tuple[Any, ...]) -> int:
        with self.pool.connection() as conn:
            return len(self._rows(
                conn, f"DELETE FROM sy_cache_entries WHERE {where} RETURNING id", params
            ))

    def clear(
        self, *, user_id: str | None = None, intent: str | None = None, tenant: str | None = None
    ) -> int:
        where, params = self._clear_filter(user_id=user_id, intent=intent, tenant=tenant,
                                           placeholder="%s")
        return self._delete(" AND ".join(where) or "true", params)

    def _delete_scope(self, scope: str) -> list[str]:
        with self.pool.connection() as conn:
            return [r[0] for r in self._rows(
                conn, "DELETE FROM sy_cache_entries WHERE scope = %s RETURNING norm_text",
                (scope,))]

    def invalidate_public(self, kb_version: str, *, tenant: str | None = None) -> int:
        """Knowledge base re-ingested: drop public answers built on another KB version.

        User partitions are left alone on purpose, as in the embedded backend: their partition
        key carries the kb version, so they are never looked up again and age out.
        """
        clause = "scope = 'public' AND kb_version <> %s"
        params: tuple[Any, ...] = (str(kb_version),)
        if tenant is not None:
            clause += " AND tenant = %s"
            params += (tenant,)
        return self._delete(clause, params)

    def __len__(self) -> int:
        with self.pool.connection() as conn:
            return int(self._rows(conn, "SELECT n FROM sy_cache_totals WHERE k = 0")[0][0])

    def close(self) -> None:
        """Flush counters. The pool belongs to the caller and stays open."""
        if self._closed:
            return
        self._closed = True
        if not self.pool.closed:
            with self.pool.connection() as conn:
                self._flush(conn)
