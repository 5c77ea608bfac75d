"""One replica's handle on the shared PostgreSQL: the pools and the coordination objects the
product wires in when ``SWITCHYARD_DATABASE_URL`` is set.

* ``pool``: a sync pool (the semantic cache's lookups and stores run in worker threads, and
  langchain's sync ``rate_limiter.acquire`` path).
* Per running event loop, lazily: an async pool and, on it, the cross-replica single-flight
  (:class:`PgSingleFlight`), rate limiters (:class:`PgRateLimiter`) and concurrency gates
  (:class:`PgConcurrencyGate`). Async pools and LISTEN connections belong to the loop that
  opened them, while models and caches are built once and may be used from several loops (a
  CLI ``asyncio.run`` per command, a test per loop), so each loop gets its own set.

Nothing here is a process global: the dependencies object builds one :class:`PgShared` and hands
it to the cache and the model factory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from langchain_core.rate_limiters import BaseRateLimiter
from psycopg_pool import AsyncConnectionPool

from switchyard.pg.limits import PgConcurrencyGate, PgRateLimiter
from switchyard.pg.pool import open_async_pool, open_pool
from switchyard.pg.singleflight import Lease, PgSingleFlight, WaitResult

log = logging.getLogger(__name__)


@dataclass
class _LoopState:
    opening: asyncio.Task[AsyncConnectionPool]
    flights: PgSingleFlight | None = None
    limiters: dict[str, PgRateLimiter] = field(default_factory=dict)
    gates: dict[str, PgConcurrencyGate] = field(default_factory=dict)


class PgShared:
    """Pools and coordination for one replica (see the module docstring)."""

    def __init__(self, url: str, *, pool_size: int = 10, async_pool_size: int = 10) -> None:
        self.url = url
        self.pool = open_pool(url, max_size=pool_size)
        self._async_pool_size = async_pool_size
        self._loops: dict[asyncio.AbstractEventLoop, _LoopState] = {}
        self._lock = threading.Lock()
        # Releases scheduled from sync code: kept referenced until they finish.
        self._background: set[asyncio.Task[object]] = set()
        self.flights = PgFlights(self)

    # -- per-loop objects -------------------------------------------------------------------
    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        with self._lock:
            state = self._loops.get(loop)
            if state is not None and state.opening.done() and (
                    state.opening.cancelled() or state.opening.exception() is not None):
                state = None  # the database was down when we tried: try again now
            if state is None:
                for old in [lp for lp in self._loops if lp.is_closed()]:
                    del self._loops[old]
                opening = loop.create_task(
                    open_async_pool(self.url, max_size=self._async_pool_size))
                state = self._loops[loop] = _LoopState(opening=opening)
            return state

    async def apool(self) -> AsyncConnectionPool:
        """This loop's async pool (opened once, however many callers ask at the same time)."""
        return await asyncio.shield(self._state().opening)

    async def single_flight(self) -> PgSingleFlight:
        state = self._state()
        pool = await self.apool()
        if state.flights is None:
            state.flights = PgSingleFlight(pool)
        return state.flights

    async def _limiter(self, name: str, rps: float, burst: float) -> PgRateLimiter:
        state = self._state()
        pool = await self.apool()
        limiter = state.limiters.get(name)
        if limiter is None:
            limiter = state.limiters[name] = PgRateLimiter(
                name, rps, pool=self.pool, apool=pool, max_bucket_size=burst)
        return limiter

    async def _gate(self, name: str, limit: int) -> PgConcurrencyGate:
        state = self._state()
        pool = await self.apool()
        gate = state.gates.get(name)
        if gate is None:
            gate = state.gates[name] = PgConcurrencyGate(pool, name, limit)
        return gate

    # -- what the model factory asks for ----------------------------------------------------
    def rate_limiter(self, name: str, requests_per_second: float,
                     max_bucket_size: float = 1.0) -> BaseRateLimiter:
        """A langchain rate limiter whose budget every replica shares."""
        return SharedRateLimiter(self, name, requests_per_second, max_bucket_size)

    @contextlib.asynccontextmanager
    async def slot(self, name: str, limit: int) -> AsyncIterator[None]:
        """Hold one of ``limit`` slots of gate ``name``, counted across every replica."""
        gate = await self._gate(name, limit)
        async with gate.slot():
            yield

    # -- health and shutdown ----------------------------------------------------------------
    async def check(self) -> str | None:
        """None when the database answers and its schema is current, else why not."""
        from switchyard.pg.schema import SCHEMA_VERSION

        try:
            pool = await self.apool()
            async with pool.connection(timeout=5) as conn:
                cur = await conn.execute("SELECT coalesce(max(version), 0) FROM sy_schema")
                row = await cur.fetchone()
        except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
            return f"PostgreSQL unreachable: {type(exc).__name__}: {str(exc)[:200]}"
        version = int(row[0]) if row else 0
        if version < SCHEMA_VERSION:
            return f"schema at version {version}, needs {SCHEMA_VERSION}: run `switchyard db migrate`"
        return None

    def spawn(self, coro: object) -> None:
        """Run ``coro`` in the background on the running loop (sync callers' releases)."""
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        """Close this loop's listeners and async pool, then the sync pool."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        loop = asyncio.get_running_loop()
        with self._lock:
            state = self._loops.pop(loop, None)
        if state is not None:
            for gate in state.gates.values():
                await gate.close()
            if state.flights is not None:
                await state.flights.close()
            with contextlib.suppress(Exception):
                pool = await state.opening
                await pool.close()
        self.close()

    def close(self) -> None:
        self.pool.close()


class SharedRateLimiter(BaseRateLimiter):
    """A :class:`PgRateLimiter` per event loop, behind one langchain ``BaseRateLimiter``."""

    def __init__(self, shared: PgShared, name: str, requests_per_second: float,
                 max_bucket_size: float = 1.0) -> None:
        self.shared = shared
        self.name = name
        self.requests_per_second = requests_per_second
        self.max_bucket_size = max_bucket_size
        # The sync path needs no loop: one limiter on the sync pool.
        self._sync = PgRateLimiter(name, requests_per_second, pool=shared.pool,
                                   max_bucket_size=max_bucket_size)

    def acquire(self, *, blocking: bool = True) -> bool:
        return self._sync.acquire(blocking=blocking)

    async def aacquire(self, *, blocking: bool = True) -> bool:
        limiter = await self.shared._limiter(self.name, self.requests_per_second,
                                             self.max_bucket_size)
        return await limiter.aacquire(blocking=blocking)


class PgFlights:
    """The cross-replica half of the cache's single-flight (``switchyard.cache.singleflight``'s
    ``SharedFlights``), on this loop's :class:`PgSingleFlight`."""

    def __init__(self, shared: PgShared) -> None:
        self.shared = shared

    async def acquire(self, key: str, lease_s: float) -> Lease:
        return await (await self.shared.single_flight()).acquire(key, lease_s)

    async def wait(self, key: str, timeout_s: float) -> WaitResult:
        return await (await self.shared.single_flight()).wait(key, timeout_s)

    async def release(self, key: str, token: str, stored: bool) -> bool:
        return await (await self.shared.single_flight()).release(key, token, stored)

    def release_soon(self, key: str, token: str, stored: bool) -> None:
        """From sync code: release in the background on the running loop. Without a loop there
        is nothing to run it on; the lease then ends on its own (at most one lease)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            log.debug("no running loop to release a flight; its lease will end")
            return
        self.shared.spawn(self._release_quietly(key, token, stored))

    async def _release_quietly(self, key: str, token: str, stored: bool) -> None:
        try:
            await self.release(key, token, stored)
        except Exception as exc:  # noqa: BLE001 - the lease ends on its own
            log.warning("could not release a shared single-flight lease (%s); it expires "
                        "by itself", exc)
