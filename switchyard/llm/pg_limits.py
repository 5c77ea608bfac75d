"""Per-tier rate limits and concurrency caps that hold across every replica.

* :class:`PgRateLimiter` is a langchain-core ``BaseRateLimiter`` (pass it as a chat model's
  ``rate_limiter=``). It is a GCRA token bucket: one row per limiter holds the *theoretical
  arrival time* on the database clock. Each acquire is ONE ``INSERT ... ON CONFLICT DO UPDATE``
  that reserves the next slot and returns how long to sleep; Postgres serialises the updates
  on the row and re-evaluates the new value on the latest version, so concurrent replicas
  cannot both take the same slot. Callers are served in arrival order, no retry loops.
* :class:`PgConcurrencyGate` caps in-flight calls: ``limit`` slot rows per gate, claimed with
  ``SELECT ... FOR UPDATE SKIP LOCKED`` (re-checked on the latest row version) and held with a
  lease that a heartbeat renews. A crashed process stops renewing, so its slots come back
  after one lease. Waiters wake on a NOTIFY when a slot is released, and poll as a fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

from langchain_core.rate_limiters import BaseRateLimiter
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from switchyard.pg.notify import PgListener
from switchyard.pg.pool import PgPools

log = logging.getLogger(__name__)

_NOW = "extract(epoch FROM clock_timestamp())"
# Reserve the next emission slot; returns the seconds to wait before using it (<= 0: now).
# tat = theoretical arrival time; tolerance = (burst - 1) * interval.
_RESERVE = f"""
INSERT INTO sy_rate_limits AS r (name, tat) VALUES (%(name)s, {_NOW} + %(interval)s)
ON CONFLICT (name) DO UPDATE SET tat = greatest(r.tat, {_NOW}) + %(interval)s
RETURNING tat - %(interval)s - %(tolerance)s - {_NOW}
"""
# Non-blocking: take the slot only if it is usable right now.
_TRY = f"""
INSERT INTO sy_rate_limits AS r (name, tat) VALUES (%(name)s, {_NOW} + %(interval)s)
ON CONFLICT (name) DO UPDATE SET tat = greatest(r.tat, {_NOW}) + %(interval)s
    WHERE greatest(r.tat, {_NOW}) - %(tolerance)s <= {_NOW}
RETURNING 1
"""


class PgRateLimiter(BaseRateLimiter):
    """``requests_per_second`` across all replicas sharing the database, for limiter ``name``.

    Give it a sync ``pool`` for ``acquire`` and/or an async ``apool`` for ``aacquire`` (chat
    models call the one matching ``invoke``/``ainvoke``). ``max_bucket_size`` is the burst, as
    in langchain's ``InMemoryRateLimiter``.
    """

    def __init__(
        self,
        name: str,
        requests_per_second: float,
        *,
        pool: ConnectionPool | None = None,
        apool: AsyncConnectionPool | None = None,
        max_bucket_size: float = 1.0,
    ) -> None:
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        if max_bucket_size < 1:
            raise ValueError("max_bucket_size must be at least 1")
        if pool is None and apool is None:
            raise ValueError("PgRateLimiter needs a pool (sync) or an apool (async)")
        self.name = name
        self.requests_per_second = requests_per_second
        self.max_bucket_size = max_bucket_size
        self.pool = pool
        self.apool = apool
        interval = 1.0 / requests_per_second
        self._params = {
            "name": name,
            "interval": interval,
            "tolerance": (max_bucket_size - 1.0) * interval,
        }

    def acquire(self, *, blocking: bool = True) -> bool:
        if self.pool is None:
            raise RuntimeError(f"rate limiter {self.name!r} has no sync pool; use aacquire")
        with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(_RESERVE if blocking else _TRY, self._params)
            row = cur.fetchone()
        if not blocking:
            return row is not None
        wait = float(row[0]) if row else 0.0
        if wait > 0:
            time.sleep(wait)
        return True

    async def aacquire(self, *, blocking: bool = True) -> bool:
        if self.apool is None:
            raise RuntimeError(f"rate limiter {self.name!r} has no async pool; use acquire")
        async with self.apool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(_RESERVE if blocking else _TRY, self._params)
            row = await cur.fetchone()
        if not blocking:
            return row is not None
        wait = float(row[0]) if row else 0.0
        if wait > 0:
            await asyncio.sleep(wait)
        return True


class GateTimeout(TimeoutError):
    """No slot became free within the caller's timeout."""


_CLAIM = """
UPDATE sy_slots s
   SET holder = %(holder)s, expires_at = clock_timestamp() + make_interval(secs => %(lease)s)
 WHERE (s.gate, s.slot) = (
        SELECT gate, slot FROM sy_slots
         WHERE gate = %(gate)s AND (holder IS NULL OR expires_at <= clock_timestamp())
         ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED)
   AND (s.holder IS NULL OR s.expires_at <= clock_timestamp())
RETURNING s.slot
"""
_RENEW = """
UPDATE sy_slots SET expires_at = clock_timestamp() + make_interval(secs => %(lease)s)
 WHERE gate = %(gate)s AND slot = %(slot)s AND holder = %(holder)s RETURNING 1
"""
_FREE = """
WITH freed AS (
    UPDATE sy_slots SET holder = NULL, expires_at = NULL
     WHERE gate = %(gate)s AND slot = %(slot)s AND holder = %(holder)s RETURNING 1)
SELECT pg_notify(%(channel)s, %(topic)s) FROM freed
"""


class PgConcurrencyGate:
    """At most ``limit`` holders of gate ``name`` at once, across all replicas.

    Usage: ``async with gate.slot(timeout_s=30): await model.ainvoke(...)``. ``lease_s`` only
    matters when a holder dies: its slot comes back after at most that long (a live holder's
    heartbeat renews the lease every ``lease_s / 3``).
    """

    def __init__(
        self,
        pool: AsyncConnectionPool,
        name: str,
        limit: int,
        *,
        lease_s: float = 30.0,
        poll_s: float = 0.5,
        channel: str = "sy_slots",
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if lease_s <= 0 or poll_s <= 0:
            raise ValueError("lease_s and poll_s must be positive")
        self.pool = pool
        self.name = name
        self.limit = limit
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.channel = channel
        self._listener = PgListener(pool.conninfo, channel)
        # NOTIFY topic: a digest, so any gate name is a valid payload (no ':' splitting issues).
        self._topic = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
        self._ready = False

    async def _exec(self, sql: str, params: dict[str, object]) -> list[tuple]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(sql, params)  # type: ignore[arg-type]  # module constants only
            return await cur.fetchall() if cur.description else []

    async def setup(self) -> None:
        """Create the slot rows (idempotent); a lowered limit drops the surplus free slots."""
        await self._exec(
            "INSERT INTO sy_slots (gate, slot) SELECT %(gate)s, g FROM generate_series(0, %(n)s - 1) g"
            " ON CONFLICT DO NOTHING",
            {"gate": self.name, "n": self.limit},
        )
        # Surplus slots still held are dropped once free, by the next setup.
        await self._exec(
            "DELETE FROM sy_slots WHERE gate = %(gate)s AND slot >= %(n)s"
            " AND (holder IS NULL OR expires_at <= clock_timestamp())",
            {"gate": self.name, "n": self.limit},
        )
        self._ready = True

    async def in_use(self) -> int:
        rows = await self._exec(
            "SELECT count(*) FROM sy_slots WHERE gate = %(gate)s AND holder IS NOT NULL"
            " AND expires_at > clock_timestamp()",
            {"gate": self.name},
        )
        return int(rows[0][0])

    @contextlib.asynccontextmanager
    async def slot(self, timeout_s: float | None = None) -> AsyncIterator[int]:
        """Hold one slot for the body; raises :class:`GateTimeout` if none frees in time."""
        if not self._ready:
            await self.setup()
        holder = uuid.uuid4().hex
        params = {"gate": self.name, "holder": holder, "lease": self.lease_s,
                  "channel": self.channel, "topic": self._topic}
        number = await self._claim(params, timeout_s)
        params["slot"] = number
        heartbeat = asyncio.create_task(self._heartbeat(params))
        try:
            yield number
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            # Shielded: a cancelled caller must still give its slot back.
            await asyncio.shield(self._exec(_FREE, params))

    async def _claim(self, params: dict[str, object], timeout_s: float | None) -> int:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        rows = await self._exec(_CLAIM, params)
        if rows:
            return int(rows[0][0])
        await self._listener.start()
        while True:
            fut = self._listener.waiter(self._topic)  # registered before the retry
            try:
                rows = await self._exec(_CLAIM, params)
                if rows:
                    return int(rows[0][0])
                wait = self.poll_s
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise GateTimeout(f"no free slot in gate {self.name!r} "
                                          f"(limit {self.limit}) within {timeout_s:g} s")
                    wait = min(wait, left)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(fut, wait)
            finally:
                self._listener.discard(self._topic, fut)

    async def _heartbeat(self, params: dict[str, object]) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                if not await self._exec(_RENEW, params):
                    log.warning("gate %s: slot %s was reclaimed (lease %.1f s expired)",
                                self.name, params["slot"], self.lease_s)
                    return
            except Exception as exc:  # noqa: BLE001 - a blip: two more tries before expiry
                log.warning("gate %s: lease renewal failed: %s", self.name, exc)

    async def close(self) -> None:
        await self._listener.close()


class PgLimits:
    """Rate limits and concurrency caps every replica shares, for the model factory
    (``switchyard.llm.factory.SharedLimits``): one limiter and gate per name and event loop."""

    def __init__(self, pools: PgPools) -> None:
        self.pools = pools

    def rate_limiter(self, name: str, requests_per_second: float,
                     max_bucket_size: float = 1.0) -> BaseRateLimiter:
        """A langchain rate limiter whose budget every replica shares."""
        return SharedRateLimiter(self.pools, name, requests_per_second, max_bucket_size)

    @contextlib.asynccontextmanager
    async def slot(self, name: str, limit: int) -> AsyncIterator[None]:
        """Hold one of ``limit`` slots of gate ``name``, counted across every replica."""
        gate = await self.pools.loop_object(
            f"gate:{name}", lambda apool: PgConcurrencyGate(apool, name, limit),
            close=PgConcurrencyGate.close)
        async with gate.slot():
            yield


class SharedRateLimiter(BaseRateLimiter):
    """A :class:`PgRateLimiter` per event loop, behind one langchain ``BaseRateLimiter``."""

    def __init__(self, pools: PgPools, name: str, requests_per_second: float,
                 max_bucket_size: float = 1.0) -> None:
        self.pools = pools
        self.name = name
        self.requests_per_second = requests_per_second
        self.max_bucket_size = max_bucket_size
        # The sync path needs no loop: one limiter on the sync pool.
        self._sync = PgRateLimiter(name, requests_per_second, pool=pools.pool,
                                   max_bucket_size=max_bucket_size)

    def acquire(self, *, blocking: bool = True) -> bool:
        return self._sync.acquire(blocking=blocking)

    async def aacquire(self, *, blocking: bool = True) -> bool:
        limiter = await self.pools.loop_object(
            f"limiter:{self.name}", lambda apool: PgRateLimiter(
                self.name, self.requests_per_second, pool=self.pools.pool, apool=apool,
                max_bucket_size=self.max_bucket_size))
        return await limiter.aacquire(blocking=blocking)
