"""Single-flight across replicas: identical requests on different replicas share one model call.

The in-process :class:`switchyard.cache.singleflight.SingleFlight` stays in front (it dedupes
within a replica for free); only its leader asks this class, so the database sees one claim per
key per replica:

1. ``lease = await flights.acquire(key, lease_s)``. A row ``(key, token, expires_at)`` is claimed
   with ``INSERT ... ON CONFLICT DO UPDATE ... WHERE expires_at <= now``: exactly one replica gets
   it while it is live. ``lease.leader`` says whether we won.
2. Leader: compute, store, then ``await flights.release(key, lease.token, stored)`` (always, also
   on errors). That deletes the row (only if the token still matches) and NOTIFYs waiters.
3. Follower: ``await flights.wait(key, timeout_s)``, then look the cache up again. It wakes on the
   NOTIFY, or when the lease ends: a leader that died costs at most one lease, after which the
   next ``acquire`` succeeds. Waiters also re-check every ``poll_s``, so a lost notification (a
   dropped listener connection) only delays them.

A :class:`Lease` is plain data (key, token, leader, expiry), so it can live in graph state.
Times come from the database clock, so replicas' clocks need not agree.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Literal

from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from switchyard.pg.notify import PgListener
from switchyard.pg.pool import PgPools

log = logging.getLogger(__name__)

CHANNEL = "sy_flights"
Outcome = Literal["stored", "failed", "released", "lease_expired", "timeout"]


@dataclass(frozen=True)
class Lease:
    key: str
    token: str  # "" for a follower
    leader: bool
    expires_at: float  # epoch seconds (database clock) when the current leader's lease ends


@dataclass(frozen=True)
class WaitResult:
    outcome: Outcome  # released = the leader finished but we missed how (look the cache up)
    waited_s: float

    @property
    def leader_stored(self) -> bool | None:
        return {"stored": True, "failed": False}.get(self.outcome)


def _digest(key: str) -> str:
    # NOTIFY payloads are capped at 8000 bytes; keys embed the request text.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


_ACQUIRE = """
INSERT INTO sy_flights AS f (key, token, expires_at)
VALUES (%(key)s, %(token)s, clock_timestamp() + make_interval(secs => %(lease)s))
ON CONFLICT (key) DO UPDATE SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
    WHERE f.expires_at <= clock_timestamp()
RETURNING extract(epoch FROM expires_at)::float8
"""
_RELEASE = """
WITH gone AS (DELETE FROM sy_flights WHERE key = %(key)s AND token = %(token)s RETURNING key)
SELECT pg_notify(%(channel)s, %(payload)s) FROM gone
"""
_STATE = """
SELECT expires_at > clock_timestamp(), extract(epoch FROM expires_at - clock_timestamp())::float8,
       extract(epoch FROM expires_at)::float8
  FROM sy_flights WHERE key = %s
"""


class PgSingleFlight:
    """Cross-replica single-flight on ``sy_flights`` (see the module docstring)."""

    def __init__(
        self, pool: AsyncConnectionPool, *, channel: str = CHANNEL, poll_s: float = 1.0
    ) -> None:
        self.pool = pool
        self.channel = channel
        self.poll_s = poll_s
        self._listener = PgListener(pool.conninfo, channel)

    async def _query(self, sql: str, params: object) -> list[tuple]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(sql, params)  # type: ignore[arg-type]  # module constants only
            return await cur.fetchall() if cur.description else []

    # -- leader -------------------------------------------------------------------------------
    async def acquire(self, key: str, lease_s: float) -> Lease:
        """Claim ``key`` for ``lease_s`` seconds; ``leader`` is False if a live lease exists."""
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        token = uuid.uuid4().hex
        rows = await self._query(_ACQUIRE, {"key": key, "token": token, "lease": lease_s})
        if rows:
            return Lease(key=key, token=token, leader=True, expires_at=rows[0][0])
        state = await self._query(_STATE, (key,))
        return Lease(key=key, token="", leader=False, expires_at=state[0][2] if state else 0.0)

    async def renew(self, key: str, token: str, lease_s: float) -> bool:
        """Extend a leader's lease (long calls); False if it was lost meanwhile."""
        rows = await self._query(
            "UPDATE sy_flights SET expires_at = clock_timestamp() + make_interval(secs => %s)"
            " WHERE key = %s AND token = %s RETURNING 1",
            (lease_s, key, token),
        )
        return bool(rows)

    async def release(self, key: str, token: str, stored: bool) -> bool:
        """End the flight and wake followers. False if the lease was no longer ours."""
        if not token:
            return False  # a follower's lease: nothing to release
        payload = f"{_digest(key)}:{int(bool(stored))}"
        rows = await self._query(
            _RELEASE, {"key": key, "token": token, "channel": self.channel, "payload": payload}
        )
        return bool(rows)

    # -- followers ----------------------------------------------------------------------------
    async def wait(self, key: str, timeout_s: float) -> WaitResult:
        """Wait until the leader releases, its lease ends, or ``timeout_s`` passes."""
        start = time.monotonic()
        deadline = start + timeout_s
        await self._listener.start()
        digest = _digest(key)
        while True:
            fut = self._listener.waiter(digest)  # registered before the check: no lost wake-up
            try:
                state = await self._query(_STATE, (key,))
                if not state:
                    return WaitResult("released", time.monotonic() - start)
                live, left, _ = state[0]
                if not live:
                    return WaitResult("lease_expired", time.monotonic() - start)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return WaitResult("timeout", time.monotonic() - start)
                try:
                    flag = await asyncio.wait_for(
                        fut, min(remaining, max(left, 0.0) + 0.02, self.poll_s)
                    )
                except TimeoutError:
                    continue  # re-check: lease end, timeout, or a missed notification
                return WaitResult("stored" if flag == "1" else "failed", time.monotonic() - start)
            finally:
                self._listener.discard(digest, fut)

    async def close(self) -> None:
        """Stop listening (the pool is the caller's)."""
        await self._listener.close()


class PgFlights:
    """The cross-replica half of the cache's single-flight (``SharedFlights`` in
    ``switchyard.cache.singleflight``), on this loop's :class:`PgSingleFlight`."""

    def __init__(self, pools: PgPools) -> None:
        self.pools = pools

    async def _flights(self) -> PgSingleFlight:
        return await self.pools.loop_object("single-flight", PgSingleFlight,
                                            close=PgSingleFlight.close)

    async def acquire(self, key: str, lease_s: float) -> Lease:
        return await (await self._flights()).acquire(key, lease_s)

    async def wait(self, key: str, timeout_s: float) -> WaitResult:
        return await (await self._flights()).wait(key, timeout_s)

    async def release(self, key: str, token: str, stored: bool) -> bool:
        return await (await self._flights()).release(key, token, stored)

    def release_soon(self, key: str, token: str, stored: bool) -> None:
        """From sync code: release in the background on the running loop. Without a loop there
        is nothing to run it on; the lease then ends on its own (at most one lease)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            log.debug("no running loop to release a flight; its lease will end")
            return
        self.pools.spawn(self._release_quietly(key, token, stored))

    async def _release_quietly(self, key: str, token: str, stored: bool) -> None:
        try:
            await self.release(key, token, stored)
        except Exception as exc:  # noqa: BLE001 - the lease ends on its own
            log.warning("could not release a shared single-flight lease (%s); it expires "
                        "by itself", exc)
