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

import contextlib
import functools
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool


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
# time at 40 and 94% at 64, for ~0.5 ms more (scripts/bench_pg_cache.py --ef-search 40,64,100).
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
    recall/latency knob (see scripts/bench_pg_cache.py).
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
    check_reachable(url)
    pool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True},
        configure=_aconfigure,
        open=False,
        name="switchyard-async",
        **kwargs,
    )
    await pool.open(wait=True, timeout=10)
    return pool


async def open_checkpointer_pool(
    url: str, *, min_size: int = 1, max_size: int = 10
) -> AsyncConnectionPool:
    """The pool ``AsyncPostgresSaver`` needs: autocommit, no prepared statements, dict rows."""
    check_reachable(url)
    pool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=False,
        name="switchyard-checkpoints",
    )
    await pool.open(wait=True, timeout=10)
    return pool
