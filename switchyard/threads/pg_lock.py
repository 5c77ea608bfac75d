"""Conversation threads shared by replicas: checkpoints in PostgreSQL, one turn at a time.

Any replica can continue any thread because LangGraph's ``AsyncPostgresSaver`` keeps the
checkpoints in the shared database (tables created by ``switchyard db migrate``). Two turns of
the same thread arriving at two replicas must not interleave (both would read the same
checkpoint and one answer would be lost), so a turn runs under :func:`thread_turn_lock`: a
transaction-scoped advisory lock on the thread key, held for the turn. If the replica dies, its
connection drops and the lock goes with it: no lease to wait out.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool


class ThreadBusy(TimeoutError):
    """Another turn of this thread is still running (after waiting ``timeout_s``)."""


@contextlib.asynccontextmanager
async def thread_turn_lock(
    pool: AsyncConnectionPool, thread_key: str, *, timeout_s: float | None = None
) -> AsyncIterator[None]:
    """Hold the thread's turn lock for the body; waits for a running turn of the same thread.

    ``thread_key`` should include the tenant (``f"{tenant}:{thread_id}"``). The lock is keyed
    by a 64-bit hash: a collision only serialises two unrelated threads. It holds one pooled
    connection (in an open transaction) for the turn, so size the pool for concurrent turns.
    """
    if not thread_key:
        raise ValueError("thread_key must be non-empty")
    async with pool.connection() as conn, conn.transaction():
        if timeout_s is not None:
            # SET LOCAL via set_config(..., true): ends with the transaction.
            await conn.execute(
                "SELECT set_config('lock_timeout', %s, true)", (f"{max(1, int(timeout_s * 1000))}ms",)
            )
        try:
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (thread_key,)
            )
        except psycopg.errors.LockNotAvailable:
            raise ThreadBusy(
                f"thread {thread_key!r} is busy with another turn (waited {timeout_s:g} s)"
            ) from None
        yield


class _Text:
    """A text channel value on its way to the serializer rather than the inline JSONB."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value


class _TextThroughSerde:
    """The saver's serializer, unwrapping :class:`_Text` first (so it stores a plain str)."""

    def __init__(self, inner: SerializerProtocol) -> None:
        self.inner = inner

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return self.inner.dumps_typed(obj.value if isinstance(obj, _Text) else obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return self.inner.loads_typed(data)


class SealedPostgresSaver(AsyncPostgresSaver):
    """``AsyncPostgresSaver`` that keeps no channel text in clear.

    LangGraph's saver stores primitive channel values (the request, the answer...) inline in the
    checkpoint's JSONB column, bypassing the serializer, so an encrypting serializer alone
    would leave them readable in a dump. Here every text value goes to ``checkpoint_blobs``
    through the serializer instead; on the first write after an upgrade, text values of older
    checkpoints get their blob too (at their current version), so nothing is lost.
    """

    def __init__(self, conn: Any, pipe: Any = None,
                 serde: SerializerProtocol | None = None) -> None:
        super().__init__(conn, pipe, serde=_TextThroughSerde(serde) if serde else None)

    async def aput(self, config: Any, checkpoint: Any, metadata: Any,
                   new_versions: Any) -> Any:
        values = checkpoint["channel_values"]
        texts = [k for k, v in values.items() if isinstance(v, str)]
        if texts:
            versions = checkpoint.get("channel_versions") or {}
            checkpoint = {**checkpoint, "channel_values": {
                k: _Text(v) if isinstance(v, str) else v for k, v in values.items()}}
            # Unchanged text channels are re-sent at their version: the blob insert is a no-op
            # when it exists, and writes the blob an older (inline) checkpoint never had.
            new_versions = {**{k: versions[k] for k in texts if k in versions}, **new_versions}
        return await super().aput(config, checkpoint, metadata, new_versions)


def checkpointer(pool: AsyncConnectionPool,
                 serde: SerializerProtocol | None = None) -> AsyncPostgresSaver:
    """The LangGraph checkpointer on ``pool`` (from :func:`switchyard.pg.pool.open_checkpointer_pool`:
    autocommit, no prepared statements, dict rows). Tables come from ``switchyard db migrate``."""
    return SealedPostgresSaver(pool, serde=serde)


async def prune(
    pool: AsyncConnectionPool,
    saver: AsyncPostgresSaver,
    *,
    ttl_s: float | None,
    max_threads: int | None,
    now: float | None = None,
) -> int:
    """Delete threads idle longer than ``ttl_s`` and all but the ``max_threads`` most recently
    active, with the checkpointer's own ``adelete_thread``. Returns the number deleted.

    Same rules as the embedded store (``switchyard.threads.retention.prune``): a thread's last activity is
    its newest checkpoint id (UUIDv6: the time is in the id, no blob is read). Safe to run on
    every replica at once: deleting a deleted thread is a no-op.
    """
    from switchyard.threads.retention import prune_victims, rank_activity

    now = time.time() if now is None else now
    async with pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute("SELECT thread_id, max(checkpoint_id) FROM checkpoints GROUP BY 1")
        rows = await cur.fetchall()
    victims = prune_victims(rank_activity(rows), ttl_s=ttl_s, max_threads=max_threads, now=now)
    for tid in victims:
        await saver.adelete_thread(tid)
    return len(victims)
