"""Connection pools for switchyard's shared state, configured the way every module here expects.

* ``autocommit=True``: every module opens explicit transactions when it needs one, so a pooled
  connection is never returned mid-transaction.
* ``hnsw.iterative_scan = relaxed_order`` (and ``plan_cache_mode = force_custom_plan``) on every
  connection: without it an HNSW scan with a
  partition filter stops after ``ef_search`` candidates and can return nothing although matches
  exist (measured: 0 of 4). Set per session, so it is done in the pool's ``configure`` callback.
* pgvector's binary adapters are registered so numpy arrays go in as ``vector`` directly.

The LangGraph checkpointer wants dict rows and no prepared statements: use
:func:`open_checkpointer_pool` for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from switchyard.core.loops import PerLoop

log = logging.getLogger(__name__)
T = TypeVar("T")


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or is not set up; the message says what to do."""


def describe_url(url: str) -> str:
    """The URL without its password, safe for error messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise DatabaseUnavailable(f"invalid database URL: {exc}") from None
    host, port, db = info.get("host", "localhost"), info.get("port", "5432"), info.get("dbname", "")
    return f"{host}:{port}/{db}"


# Per-session settings. force_custom_plan: psycopg prepares repeated statements, and a generic
# plan cannot tell a 5-entry user partition (btree + sort) from a 30k public one (HNSW scan).
_SESSION = "SET hnsw.iterative_scan = relaxed_order; SET plan_cache_mode = force_custom_plan"
# HNSW candidates per scan. pgvector's default is 40; measured at 100k random vectors (the
# worst case for HNSW), a 40,000-entry partition found the true nearest neighbour 86% of the
# time at 40 and 94% at 64, for ~0.5 ms more (benchmarks/bench_pg_cache.py --ef-search 40,64,100).
DEFAULT_EF_SEARCH = 64


def _session_sql(ef_search: int | None) -> str:
    if ef_search is None:
        ef_search = DEFAULT_EF_SEARCH
    if not 1 <= ef_search <= 1000:
        raise ValueError("ef_search must be between 1 and 1000")
    # Candidates per HNSW scan (pgvector default 40): higher finds more true neighbours, slower.
    return f"{_SESSION}; SET hnsw.ef_search = {int(ef_search)}"


def _configure(conn: psycopg.Connection, session: str = _SESSION) -> None:
    from pgvector.psycopg import register_vector

    conn.execute(session)  # type: ignore[arg-type]  # built from constants and an int
    # No vector type yet (fresh database before `switchyard db migrate`): the modules check the
    # schema version themselves and say so clearly.
    with contextlib.suppress(psycopg.ProgrammingError):
        register_vector(conn)


async def _aconfigure(conn: psycopg.AsyncConnection) -> None:
    from pgvector.psycopg import register_vector_async

    await conn.execute(_SESSION)
    with contextlib.suppress(psycopg.ProgrammingError):
        await register_vector_async(conn)


def check_reachable(url: str) -> None:
    """Fail fast with a readable message instead of a pool that retries forever."""
    where = describe_url(url)
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {where}: {first}") from None


def open_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    ef_search: int | None = None,
    **kwargs: Any,
) -> ConnectionPool:
    """A sync pool (cache lookups/stores run in worker threads, like the embedded backend).

    ``ef_search``: HNSW candidates per lookup (``DEFAULT_EF_SEARCH`` when None); the cache's
    recall/latency knob (see benchmarks/bench_pg_cache.py).
    """
    session = _session_sql(ef_search)
    check_reachable(url)
    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True},
        configure=functools.partial(_configure, session=session),
        open=False,
        name="switchyard",
        **kwargs,
    )
    pool.open(wait=True, timeout=10)
    return pool


async def open_async_pool(
    url: str, *, min_size: int = 1, max_size: int = 10, **kwargs: Any
) -> AsyncConnectionPool:
    """An async pool (single-flight, rate limits, concurrency gates, thread locks)."""
    return await _open_async(url, "switchyard-async", min_size, max_size,
                             {"autocommit": True}, configure=_aconfigure, **kwargs)


async def open_checkpointer_pool(
    url: str, *, min_size: int = 1, max_size: int = 10
) -> AsyncConnectionPool:
    """The pool ``AsyncPostgresSaver`` needs: autocommit, no prepared statements, dict rows."""
    return await _open_async(url, "switchyard-checkpoints", min_size, max_size,
                             {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row})


async def _open_async(url: str, name: str, min_size: int, max_size: int,
                      connection: dict[str, Any], **kwargs: Any) -> AsyncConnectionPool:
    check_reachable(url)
    pool = AsyncConnectionPool(url, min_size=min_size, max_size=max_size, kwargs=connection,
                               open=False, name=name, **kwargs)
    await pool.open(wait=True, timeout=10)
    return pool


# -- one replica's pools ------------------------------------------------------------------------
@dataclass
class _LoopState:
    opening: asyncio.Task[AsyncConnectionPool]
    # Objects bound to this loop's async pool (single-flight, limiters, gates), by key.
    objects: dict[str, Any] = field(default_factory=dict)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def usable(self) -> bool:
        """False once opening the pool failed (the database was down): open it again then."""
        return not (self.opening.done() and (self.opening.cancelled()
                                             or self.opening.exception() is not None))


class PgPools:
    """One replica's connections to the shared PostgreSQL.

    * ``pool``: a sync pool (the semantic cache's lookups and stores run in worker threads, and
      langchain's sync ``rate_limiter.acquire`` path).
    * Per running event loop, lazily: an async pool, and the objects built on it
      (:meth:`loop_object`). Async pools and LISTEN connections belong to the loop that opened
      them (see ``switchyard.core.loops``).

    The front door builds one and hands it to the cache and the model factory.
    """

    def __init__(self, url: str, *, pool_size: int = 10, async_pool_size: int = 10) -> None:
        self.url = url
        self.pool = open_pool(url, max_size=pool_size)
        self._loops: PerLoop[_LoopState] = PerLoop(
            lambda: _LoopState(opening=asyncio.get_running_loop().create_task(
                open_async_pool(url, max_size=async_pool_size))),
            usable=_LoopState.usable)
        # Work scheduled from sync code: kept referenced until it finishes.
        self._background: set[asyncio.Task[object]] = set()

    def _state(self) -> _LoopState:
        return self._loops.get()

    async def apool(self) -> AsyncConnectionPool:
        """This loop's async pool (opened once, however many callers ask at the same time)."""
        return await asyncio.shield(self._state().opening)

    async def loop_object(self, key: str, build: Callable[[AsyncConnectionPool], T],
                          close: Callable[[T], Awaitable[None]] | None = None) -> T:
        """The object ``key`` for this loop, built once on this loop's async pool; ``close`` runs
        when the pools close on this loop."""
        state = self._state()
        pool = await self.apool()
        obj = state.objects.get(key)
        if obj is None:
            obj = state.objects[key] = build(pool)
            if close is not None:
                state.closers.append(functools.partial(close, obj))
        return obj  # type: ignore[no-any-return]

    def spawn(self, coro: Awaitable[object]) -> None:
        """Run ``coro`` in the background on the running loop (sync callers' releases)."""
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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

    async def aclose(self) -> None:
        """Close this loop's objects and async pool, then the sync pool."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        state = self._loops.pop()
        if state is not None:
            for close in reversed(state.closers):
                with contextlib.suppress(Exception):
                    await close()
            with contextlib.suppress(Exception):
                pool = await state.opening
                await pool.close()
        self.close()

    def close(self) -> None:
        self.pool.close()
