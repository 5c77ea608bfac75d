"""Retention for the conversation store (``SWITCHYARD_HOME/threads.sqlite``).

The service checkpoints every turn with langgraph-checkpoint-sqlite's ``AsyncSqliteSaver``: table
``checkpoints`` (one row per step: thread_id, checkpoint_ns, checkpoint_id, ..., checkpoint and
metadata blobs) and table ``writes`` (pending writes per checkpoint). Nothing ever deletes them, so
the file grows with every conversation. This module reports that store and prunes whole threads:

- by TTL: a thread whose latest checkpoint is older than ``ttl_s`` is deleted;
- by count: only the ``max_threads`` most recently active threads are kept.

A thread's last activity is read from its newest checkpoint id: LangGraph ids are UUIDv6, whose
leading bits are the creation time, so no blob is unpickled. Threads whose ids carry no time are
never deleted by TTL (we cannot tell their age) but do count toward ``max_threads``, oldest last.
Deletion is one ``BEGIN IMMEDIATE`` transaction: a concurrent service write waits, and a crash
leaves the store as it was.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# 100-ns intervals between the Gregorian epoch (UUID time) and the Unix epoch.
_UUID_EPOCH_OFFSET = 0x01B21DD213814000


@dataclass
class ThreadStats:
    path: str
    threads: int = 0
    checkpoints: int = 0
    writes: int = 0
    payload_bytes: int = 0  # checkpoint + metadata + write blobs
    file_bytes: int = 0  # database file plus its -wal
    oldest_activity: float | None = None
    newest_activity: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PruneResult:
    threads_removed: int = 0
    checkpoints_removed: int = 0
    writes_removed: int = 0
    threads_kept: int = 0
    dry_run: bool = False
    removed_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("removed_ids")
        return out


def checkpoint_time(checkpoint_id: str) -> float | None:
    """Unix time encoded in a UUIDv6 (or v1) checkpoint id; None for other ids."""
    try:
        u = uuid.UUID(checkpoint_id)
    except (ValueError, TypeError, AttributeError):
        return None
    if u.version == 6:
        h = u.hex
        ticks = (int(h[0:8], 16) << 28) | (int(h[8:12], 16) << 12) | int(h[13:16], 16)
    elif u.version == 1:
        ticks = u.time
    else:
        return None
    return (ticks - _UUID_EPOCH_OFFSET) / 1e7


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def _has_tables(conn: sqlite3.Connection) -> bool:
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {"checkpoints", "writes"} <= names


def rank_activity(newest: Iterable[tuple[str, str]]) -> list[tuple[str, float | None]]:
    """(thread_id, last activity) from each thread's newest checkpoint id, most recent first
    (undated ones last). The same for every store: SQLite here, PostgreSQL in switchyard.pg."""
    dated = [(tid, checkpoint_time(cid)) for tid, cid in newest]
    return sorted(dated, key=lambda r: (r[1] is not None, r[1] or 0.0), reverse=True)


def prune_victims(activity: list[tuple[str, float | None]], *, ttl_s: float | None,
                  max_threads: int | None, now: float) -> list[str]:
    """The threads of ``activity`` (ranked by :func:`rank_activity`) idle longer than ``ttl_s``
    or beyond the ``max_threads`` most recently active."""
    return [tid for rank, (tid, last) in enumerate(activity)
            if (max_threads is not None and rank >= max_threads)
            or (ttl_s is not None and last is not None and now - last > ttl_s)]


def _activity(conn: sqlite3.Connection) -> list[tuple[str, float | None]]:
    return rank_activity(
        conn.execute("SELECT thread_id, MAX(checkpoint_id) FROM checkpoints GROUP BY thread_id"))


def stats(path: Path) -> ThreadStats:
    path = Path(path)
    out = ThreadStats(path=str(path))
    if not path.exists():
        return out
    out.file_bytes = path.stat().st_size + sum(
        p.stat().st_size for p in (Path(f"{path}-wal"),) if p.exists())
    from switchyard.core.storage import open_sqlite_read_only

    conn = open_sqlite_read_only(path, timeout=30)  # stats also work on a read-only home
    try:
        if not _has_tables(conn):
            return out
        activity = _activity(conn)
        times = [t for _, t in activity if t is not None]
        out.threads = len(activity)
        out.checkpoints, cp_bytes = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(checkpoint) + LENGTH(metadata)), 0) "
            "FROM checkpoints").fetchone()
        out.writes, w_bytes = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(value)), 0) FROM writes").fetchone()
        out.payload_bytes = int(cp_bytes) + int(w_bytes)
        out.oldest_activity = min(times, default=None)
        out.newest_activity = max(times, default=None)
    finally:
        conn.close()
    return out


def count_threads(path: Path) -> int:
    """Threads in the store (0 when it does not exist yet); read-only."""
    path = Path(path)
    if not path.exists():
        return 0
    from switchyard.core.storage import open_sqlite_read_only

    conn = open_sqlite_read_only(path, timeout=30)
    try:
        if not _has_tables(conn):
            return 0
        return int(conn.execute("SELECT COUNT(DISTINCT thread_id) FROM checkpoints").fetchone()[0])
    finally:
        conn.close()


def prune(path: Path, *, ttl_s: float | None = None,
          max_threads: int | None = None, now: float | None = None, dry_run: bool = False,
          vacuum: bool = False) -> PruneResult:
    """Delete threads idle longer than ``ttl_s`` and all but the ``max_threads`` newest."""
    if ttl_s is not None and ttl_s < 0:
        raise ValueError("ttl_s must be >= 0")
    if max_threads is not None and max_threads < 0:
        raise ValueError("max_threads must be >= 0")
    path = Path(path)
    result = PruneResult(dry_run=dry_run)
    if not path.exists():
        return result
    now = time.time() if now is None else now
    conn = _connect(path)
    try:
        if not _has_tables(conn):
            return result
        conn.execute("BEGIN IMMEDIATE")
        try:
            activity = _activity(conn)
            victims = prune_victims(activity, ttl_s=ttl_s, max_threads=max_threads, now=now)
            result.threads_removed = len(victims)
            result.threads_kept = len(activity) - len(victims)
            result.removed_ids = victims
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS prune_ids (thread_id TEXT PRIMARY KEY)")
            conn.execute("DELETE FROM prune_ids")
            conn.executemany("INSERT INTO prune_ids VALUES (?)", [(v,) for v in victims])
            where = "thread_id IN (SELECT thread_id FROM prune_ids)"
            if dry_run:
                result.checkpoints_removed = conn.execute(
                    f"SELECT COUNT(*) FROM checkpoints WHERE {where}").fetchone()[0]
                result.writes_removed = conn.execute(
                    f"SELECT COUNT(*) FROM writes WHERE {where}").fetchone()[0]
                conn.execute("ROLLBACK")
                return result
            result.writes_removed = conn.execute(f"DELETE FROM writes WHERE {where}").rowcount
            result.checkpoints_removed = conn.execute(
                f"DELETE FROM checkpoints WHERE {where}").rowcount
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if vacuum and victims:
            conn.execute("VACUUM")  # give the space back to the disk (rewrites the file)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return result
