"""Where the service keeps conversation threads, and how it runs one turn at a time per thread.

* Embedded (no ``SWITCHYARD_DATABASE_URL``): ``AsyncSqliteSaver`` on ``SWITCHYARD_HOME/threads.sqlite``
  and an asyncio lock per thread: one process owns its threads.
* Shared (``SWITCHYARD_DATABASE_URL``): ``AsyncPostgresSaver``, so any replica continues any
  thread, and a transaction-scoped advisory lock per thread (``switchyard.threads.pg_lock``), so two
  turns of one thread on two replicas never interleave. The in-process lock stays in front:
  twins on the same replica wait without holding a database connection.

Both prune by the same TTL and count rules (``settings.threads``), periodically.

Checkpoints are encrypted at rest (``checkpoint_serde``: LangGraph's ``EncryptedSerializer`` with
an AES-GCM cipher under a key derived from the deployment secret); on PostgreSQL the text values
LangGraph would keep in clear in its JSONB column go through the same serializer
(``switchyard.threads.pg_lock.SealedPostgresSaver``). Checkpoints written before encryption
existed still load. ``forget_user`` deletes every thread of one user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from switchyard.classifier.schema import Classification
from switchyard.core.domain import Tier
from switchyard.core.sealing import CheckpointCipher
from switchyard.core.settings import Settings
from switchyard.core.tracing import user_hash

log = logging.getLogger("switchyard.service")


def thread_key(tenant: str, owner_hash: str, thread_id: str) -> str:
    """The stored key of a service thread: ``tenant:<owner's keyed hash>:thread id``. Colons in
    the tenant and the thread id are escaped, so the owner is always the second of exactly three
    parts: unescaped, a thread id such as ``notes:<another user's hash>:x`` made the key look
    like that other user's, and forget deleted it with theirs."""
    def part(text: str) -> str:
        return text.replace("%", "%25").replace(":", "%3A")

    return f"{part(tenant)}:{owner_hash}:{part(thread_id)}"


def owned_by(key: str, owner_hash: str) -> bool:
    """Whether ``key`` (see :func:`thread_key`) is a thread of the user with ``owner_hash``. A
    key written before the escaping, with a colon in its thread id, still counts by its second
    part: the owner's hash always came right after a tenant (which had no colon in practice)."""
    parts = key.split(":")
    return len(parts) >= 3 and parts[1] == owner_hash


class TurnRefused(Exception):
    """A turn could not start: the thread stayed busy, or no connection was free in time."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ThreadStore:
    """Embedded store: SQLite checkpoints, per-process turn locks."""

    kind = "sqlite"

    def __init__(self, saver: Any, settings: Settings, path: Path | None = None) -> None:
        self.saver = saver
        self.settings = settings
        self.path = path
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    @contextlib.asynccontextmanager
    async def turn(self, key: str | None, timeout_s: float) -> AsyncIterator[None]:
        """One turn at a time per thread: a follow-up waits for the previous answer."""
        if not key:
            yield
            return
        async with self._lock(key), self._shared_turn(key, timeout_s):
            yield

    def _shared_turn(self, key: str, timeout_s: float) -> contextlib.AbstractAsyncContextManager[None]:
        """The part of a turn's lock other replicas see: nothing for a store of this process."""
        return contextlib.nullcontext()

    async def thread_ids_of(self, user_id: str) -> list[str]:
        """Every stored thread of ``user_id`` (keys from :func:`thread_key`)."""
        owner = user_hash(user_id, self.settings.hash_key)
        async with self.saver.conn.execute(
                "SELECT DISTINCT thread_id FROM checkpoints WHERE thread_id LIKE ?",
                (f"%:{owner}:%",)) as cur:  # candidates; the owner's part decides
            return [str(r[0]) for r in await cur.fetchall() if owned_by(str(r[0]), owner)]

    async def forget_user(self, user_id: str) -> dict[str, int]:
        """Delete every thread (checkpoints and pending writes) of ``user_id``."""
        threads = await self.thread_ids_of(user_id)
        checkpoints = 0
        for tid in threads:
            checkpoints += await self._count_checkpoints(tid)
            await self.saver.adelete_thread(tid)
        return {"threads": len(threads), "checkpoints": checkpoints}

    async def _count_checkpoints(self, thread_id: str) -> int:
        async with self.saver.conn.execute(
                "SELECT count(*) FROM checkpoints WHERE thread_id = ?", (thread_id,)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0
    async def count(self) -> int | None:
        """Threads in the store now (None if it cannot be read: the metrics keep the last)."""
        from switchyard.threads.retention import count_threads

        if self.path is None:
            return None
        return await asyncio.to_thread(count_threads, self.path)

    async def prune_once(self) -> int:
        from switchyard.threads.retention import prune

        result = await asyncio.to_thread(prune, self.path, ttl_s=self.settings.threads.ttl_s,
                                         max_threads=self.settings.threads.max_threads)
        return result.threads_removed

    async def prune_forever(self) -> None:
        """Keep the store bounded: prune by TTL and count at start-up, then periodically."""
        while True:
            try:
                removed = await self.prune_once()
                if removed:
                    log.info("pruned %d conversation threads", removed)
            except Exception:  # noqa: BLE001 - retention must never take the service down
                log.warning("thread pruning failed; retrying later", exc_info=True)
            await asyncio.sleep(self.settings.threads.prune_interval_s)


class PgThreadStore(ThreadStore):
    """Shared store: PostgreSQL checkpoints, turn locks that hold across replicas."""

    kind = "postgres"

    def __init__(self, saver: Any, settings: Settings, pool: Any, lock_pool: Any) -> None:
        super().__init__(saver, settings)
        self.pool = pool
        self.lock_pool = lock_pool

    @contextlib.asynccontextmanager
    async def _shared_turn(self, key: str, timeout_s: float) -> AsyncIterator[None]:
        """A transaction-scoped advisory lock on the thread, held by one replica at a time."""
        from psycopg_pool import PoolTimeout

        from switchyard.threads.pg_lock import ThreadBusy, thread_turn_lock

        try:
            async with thread_turn_lock(self.lock_pool, key, timeout_s=timeout_s):
                yield
        except ThreadBusy as exc:
            raise TurnRefused(409, "This conversation is still answering an earlier message "
                                   "(on another server); retry when it is done.") from exc
        except PoolTimeout as exc:  # also a checkpoint write that found no free connection
            raise TurnRefused(503, "Too many conversations are in progress right now; "
                                   "please retry in a moment.") from exc

    async def thread_ids_of(self, user_id: str) -> list[str]:
        owner = user_hash(user_id, self.settings.hash_key)
        return [str(r[0]) for r in await self._query(
            "SELECT DISTINCT thread_id FROM checkpoints WHERE thread_id LIKE %s",
            (f"%:{owner}:%",)) if owned_by(str(r[0]), owner)]

    async def _count_checkpoints(self, thread_id: str) -> int:
        rows = await self._query("SELECT count(*) FROM checkpoints WHERE thread_id = %s",
                                 (thread_id,))
        return int(rows[0][0]) if rows else 0

    async def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        from psycopg.rows import tuple_row

        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(sql, params)
            return await cur.fetchall()
    async def count(self) -> int | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT count(DISTINCT thread_id) AS n FROM checkpoints")
            row = await cur.fetchone()
        return int(row["n"]) if row else 0

    async def prune_once(self) -> int:
        from switchyard.threads.pg_lock import prune

        return await prune(self.pool, self.saver, ttl_s=self.settings.threads.ttl_s,
                           max_threads=self.settings.threads.max_threads)


# The types a checkpoint of the graph state may name, beyond LangGraph's safe list.
STATE_TYPES: tuple[type, ...] = (Classification, Tier)


def checkpoint_serde(key: bytes | None = None) -> SerializerProtocol:
    """The checkpoint serializer: LangGraph's safe types plus the state's own, nothing else;
    with ``key`` (the deployment secret: ``settings.hash_key``) encrypted with AES-GCM.

    Rebuilding an arbitrary type named in a checkpoint means importing and calling it, so a row
    written by anyone with access to the thread store could run code in the service. Only the
    types the graph state holds are allowed (LangGraph warns about, and will block, the rest).
    Encrypted rows carry their cipher in their type (``msgpack+aesgcm``); rows written in clear
    before encryption existed still load.
    """
    plain = JsonPlusSerializer(allowed_msgpack_modules=STATE_TYPES)
    if key is None:
        return plain
    return EncryptedSerializer(CheckpointCipher(key), serde=plain)


@contextlib.asynccontextmanager
async def open_thread_store(settings: Settings, path: Path) -> AsyncIterator[ThreadStore]:
    """The store for ``settings``: Postgres with ``database_url``, else SQLite at ``path``."""
    if settings.database_url:
        from switchyard.pg.pool import open_async_pool, open_checkpointer_pool
        from switchyard.threads.pg_lock import checkpointer

        pool = await open_checkpointer_pool(settings.database_url)
        # Each running turn holds one connection (its open transaction holds the lock).
        lock_pool = await open_async_pool(settings.database_url, max_size=32)
        try:
            # Tables come from `switchyard db migrate` (the cache checked the schema version).
            yield PgThreadStore(checkpointer(pool, serde=checkpoint_serde(settings.hash_key)),
                                settings, pool, lock_pool)
        finally:
            await lock_pool.close()
            await pool.close()
        return
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path.parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(str(path), timeout=_SQLITE_BUSY_S) as conn:
        saver = AsyncSqliteSaver(conn, serde=checkpoint_serde(settings.hash_key))
        await _setup_sqlite(saver)
        yield ThreadStore(saver, settings, path)


_SQLITE_BUSY_S = 10.0


async def _setup_sqlite(saver: Any, attempts: int = 8) -> None:
    """Create the tables; wait out another process doing the same on the same file.

    Two services starting together on one home both run the saver's setup, whose switch to WAL
    fails at once with "database is locked" instead of waiting for the other's transaction.
    """
    for attempt in range(attempts):
        try:
            await saver.setup()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            await asyncio.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))
