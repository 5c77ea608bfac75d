"""Outcomes from production: each answered run's routing facts, and the asker's rating of it.

``POST /v1/feedback`` stores a score (0..1) beside the run's routing record; ``switchyard route
train --from-feedback`` turns the rated runs into outcomes for the tier that answered, weighted
by 1 / the probability that tier was taken (exploration, ``classifier.exploration_share``).

Two backends behind one interface, chosen once by the front door: SQLite in
``SWITCHYARD_HOME/feedback.sqlite`` (embedded), or PostgreSQL (``SWITCHYARD_DATABASE_URL``, the
``sy_routing_runs`` / ``sy_feedback`` tables of migration 4). The request text, its history and
the comment are sealed (AES-GCM under the deployment secret), like personal cache entries; the
user is stored only as the keyed hash the traces use.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from switchyard.core.sealing import Seal
from switchyard.core.storage import StorageError, classify_error

if TYPE_CHECKING:
    from switchyard.pg.pool import PgPools

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS sy_routing_runs (
    run_id      TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    user_hash   TEXT NOT NULL,
    created_at  REAL NOT NULL,
    text        TEXT NOT NULL,
    history     TEXT NOT NULL,
    route       TEXT NOT NULL,
    answered_by TEXT,
    cache_hit   INTEGER NOT NULL,
    propensity  REAL,
    record      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sy_routing_runs_user ON sy_routing_runs (user_hash);
CREATE TABLE IF NOT EXISTS sy_feedback (
    run_id      TEXT PRIMARY KEY REFERENCES sy_routing_runs (run_id) ON DELETE CASCADE,
    score       REAL NOT NULL,
    comment     TEXT,
    created_at  REAL NOT NULL
);
"""


@dataclass(frozen=True)
class RatedRun:
    """One rated run: what was asked, which tier answered, how likely that tier was, the score."""

    run_id: str
    text: str
    history: list[str]
    answered_by: str
    propensity: float | None
    score: float


class NotYours(Exception):
    """The run exists but another user asked it."""


class UnknownRun(Exception):
    """No answered run with that id (never recorded, or forgotten)."""


class FeedbackStore:
    """The interface; see :class:`SqliteFeedbackStore` and :class:`PgFeedbackStore`."""

    backend = "abstract"

    def __init__(self, secret: bytes) -> None:
        self._seal = Seal(secret, "feedback")

    # -- writing -----------------------------------------------------------------------------
    def record_run(self, *, run_id: str, tenant: str, user_hash: str, text: str,
                   history: list[str], route: str, answered_by: str | None, cache_hit: bool,
                   propensity: float | None, record: dict[str, Any]) -> None:
        row = (run_id, tenant, user_hash, time.time(), self._seal.seal(text),
               self._seal.seal(json.dumps(history)), route, answered_by, int(cache_hit),
               propensity, json.dumps(_slim(record), default=str))
        self._insert_run(row)

    def rate(self, run_id: str, *, tenant: str, user_hash: str, score: float,
             comment: str | None) -> dict[str, Any]:
        """Store the asker's score for their run (a second rating replaces the first)."""
        owner = self._owner(run_id)
        if owner is None:
            raise UnknownRun(run_id)
        if owner != (tenant, user_hash):
            raise NotYours(run_id)
        sealed = self._seal.seal(comment) if comment else None
        self._upsert_feedback(run_id, float(score), sealed, time.time())
        return self.run_record(run_id)

    # -- reading -----------------------------------------------------------------------------
    def rated_runs(self) -> list[RatedRun]:
        out = []
        for run_id, text, history, answered_by, propensity, score in self._rated_rows():
            out.append(RatedRun(run_id=run_id, text=self._seal.open(text),
                                history=list(json.loads(self._seal.open(history))),
                                answered_by=answered_by, propensity=propensity,
                                score=float(score)))
        return out

    # -- backend hooks -----------------------------------------------------------------------
    def _insert_run(self, row: tuple[Any, ...]) -> None:
        raise NotImplementedError

    def _owner(self, run_id: str) -> tuple[str, str] | None:
        raise NotImplementedError

    def _upsert_feedback(self, run_id: str, score: float, comment: str | None, at: float) -> None:
        raise NotImplementedError

    def _rated_rows(self) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def run_record(self, run_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def forget_user(self, user_hash: str) -> int:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _slim(record: dict[str, Any]) -> dict[str, Any]:
    """The routing facts kept beside a rating (no answer text, no sources: the rating is about
    the route; the answer stays in the trace)."""
    keys = ("run_id", "route", "agent", "route_reason", "complexity", "intent", "confidence",
            "in_scope", "cache_hit", "similarity", "cost_usd", "latency_ms", "model",
            "exploration", "classification")
    out = {k: record.get(k) for k in keys if k in record}
    cls = out.get("classification") or {}
    out["classification"] = {k: cls.get(k) for k in ("scores", "quality", "recommended_agent")
                             if k in cls}
    return out


class SqliteFeedbackStore(FeedbackStore):
    backend = "sqlite"

    def __init__(self, path: Path, secret: bytes) -> None:
        super().__init__(secret)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # Written once per answered request: no fsync per commit (WAL + NORMAL survives a
            # crash of the process; a power cut may lose the last runs, only their ratings).
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.executescript(_SQLITE_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if classify_error(exc) is not None:  # full, read-only...: said as such upstream
                raise
            raise StorageError(f"{self.path} is not a feedback database SQLite can read ({exc}); "
                               "restore it from a backup, or move it aside to start an empty one",
                               kind="unreadable") from exc

    def _insert_run(self, row: tuple[Any, ...]) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO sy_routing_runs VALUES "
                               "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    def _owner(self, run_id: str) -> tuple[str, str] | None:
        with self._lock:
            got = self._conn.execute("SELECT tenant, user_hash FROM sy_routing_runs "
                                     "WHERE run_id = ?", (run_id,)).fetchone()
        return (got[0], got[1]) if got else None

    def _upsert_feedback(self, run_id: str, score: float, comment: str | None, at: float) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO sy_feedback VALUES (?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE "
                "SET score = excluded.score, comment = excluded.comment, "
                "created_at = excluded.created_at", (run_id, score, comment, at))

    def _rated_rows(self) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(
                "SELECT r.run_id, r.text, r.history, r.answered_by, r.propensity, f.score "
                "FROM sy_feedback f JOIN sy_routing_runs r USING (run_id) "
                "WHERE r.cache_hit = 0 AND r.answered_by IS NOT NULL "
                "ORDER BY f.created_at").fetchall()

    def run_record(self, run_id: str) -> dict[str, Any]:
        with self._lock:
            got = self._conn.execute(
                "SELECT r.record, f.score FROM sy_routing_runs r LEFT JOIN sy_feedback f "
                "USING (run_id) WHERE r.run_id = ?", (run_id,)).fetchone()
        if got is None:
            raise UnknownRun(run_id)
        return {**json.loads(got[0]), "score": got[1]}

    def forget_user(self, user_hash: str) -> int:
        with self._lock:
            cur = self._conn.execute("DELETE FROM sy_routing_runs WHERE user_hash = ?", (user_hash,))
        return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PgFeedbackStore(FeedbackStore):
    backend = "postgres"

    def __init__(self, pools: PgPools, secret: bytes) -> None:
        super().__init__(secret)
        self.pools = pools

    def _insert_run(self, row: tuple[Any, ...]) -> None:
        with self.pools.pool.connection() as conn:
            conn.execute(
                "INSERT INTO sy_routing_runs (run_id, tenant, user_hash, created_at, text, "
                "history, route, answered_by, cache_hit, propensity, record) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (run_id) DO NOTHING", (*row[:8], bool(row[8]), *row[9:]))

    def _owner(self, run_id: str) -> tuple[str, str] | None:
        with self.pools.pool.connection() as conn:
            got = conn.execute("SELECT tenant, user_hash FROM sy_routing_runs WHERE run_id = %s",
                               (run_id,)).fetchone()
        return (got[0], got[1]) if got else None

    def _upsert_feedback(self, run_id: str, score: float, comment: str | None, at: float) -> None:
        with self.pools.pool.connection() as conn:
            conn.execute(
                "INSERT INTO sy_feedback (run_id, score, comment, created_at) VALUES "
                "(%s, %s, %s, %s) ON CONFLICT (run_id) DO UPDATE SET score = EXCLUDED.score, "
                "comment = EXCLUDED.comment, created_at = EXCLUDED.created_at",
                (run_id, score, comment, at))

    def _rated_rows(self) -> list[tuple[Any, ...]]:
        with self.pools.pool.connection() as conn:
            return list(conn.execute(
                "SELECT r.run_id, r.text, r.history, r.answered_by, r.propensity, f.score "
                "FROM sy_feedback f JOIN sy_routing_runs r USING (run_id) "
                "WHERE NOT r.cache_hit AND r.answered_by IS NOT NULL "
                "ORDER BY f.created_at").fetchall())

    def run_record(self, run_id: str) -> dict[str, Any]:
        with self.pools.pool.connection() as conn:
            got = conn.execute(
                "SELECT r.record, f.score FROM sy_routing_runs r LEFT JOIN sy_feedback f "
                "USING (run_id) WHERE r.run_id = %s", (run_id,)).fetchone()
        if got is None:
            raise UnknownRun(run_id)
        return {**json.loads(got[0]), "score": got[1]}

    def forget_user(self, user_hash: str) -> int:
        with self.pools.pool.connection() as conn:
            cur = conn.execute("DELETE FROM sy_routing_runs WHERE user_hash = %s", (user_hash,))
        return cur.rowcount


def feedback_outcomes(runs: list[RatedRun], max_weight: float) -> list[Any]:
    """Rated runs as outcomes of the tier that answered, each weighted by 1 / the probability
    that tier was taken (clipped at ``max_weight``); runs without a recorded probability
    (forced tiers) count once."""
    from switchyard.classifier.outcomes import Outcome

    out = []
    for r in runs:
        w = 1.0 if not r.propensity else min(max_weight, 1.0 / r.propensity)
        out.append(Outcome(text=r.text, outcomes={r.answered_by: r.score}, history=r.history,
                           weight=w))
    return out
