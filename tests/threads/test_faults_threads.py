"""Thread retention: the checkpoint store is reported and pruned by TTL and by count, whole
threads at a time, and what is kept still resumes through LangGraph's own saver."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import TypedDict

import pytest
from typer.testing import CliRunner

from switchyard.threads import retention as threads

DAY = 86400.0


def uuid6_at(ts: float) -> str:
    """A UUIDv6 whose timestamp is ``ts`` (what LangGraph's checkpoint ids look like)."""
    ticks = int(ts * 1e7) + 0x01B21DD213814000
    time_high, time_mid, time_low = ticks >> 28, (ticks >> 12) & 0xFFFF, ticks & 0x0FFF
    tail = uuid.uuid4().int & ((1 << 64) - 1)
    value = (time_high << 96) | (time_mid << 80) | (0x6 << 76) | (time_low << 64) | tail
    value = (value & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


class _S(TypedDict):
    x: int


def _real_store(path: Path, thread_ids: list[str]) -> None:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(_S)
    builder.add_node("inc", lambda s: {"x": s["x"] + 1})
    builder.add_edge(START, "inc")
    builder.add_edge("inc", END)

    async def run() -> None:
        async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
            graph = builder.compile(checkpointer=saver)
            for tid in thread_ids:
                await graph.ainvoke({"x": 1}, {"configurable": {"thread_id": tid}})

    asyncio.run(run())


def _state(path: Path, tid: str) -> dict:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async def get() -> dict:
        async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
            tup = await saver.aget_tuple({"configurable": {"thread_id": tid}})
            return tup.checkpoint["channel_values"] if tup else {}

    return asyncio.run(get())


def _age(path: Path, tid: str, days: float) -> None:
    """Make ``tid``'s checkpoints ``days`` old by re-stamping their ids (keeping their order)."""
    conn = sqlite3.connect(path)
    with conn:
        ids = [r[0] for r in conn.execute(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? ORDER BY checkpoint_id",
            (tid,))]
        base = time.time() - days * DAY
        for i, old in enumerate(ids):
            new = uuid6_at(base + i * 0.001)
            for table in ("checkpoints", "writes"):
                conn.execute(f"UPDATE {table} SET checkpoint_id = ? WHERE thread_id = ? AND "
                             "checkpoint_id = ?", (new, tid, old))
    conn.close()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "threads.sqlite"
    _real_store(path, [f"t{i}" for i in range(6)])
    for i, days in enumerate([0, 1, 5, 40, 90, 400]):
        if days:
            _age(path, f"t{i}", days)
    return path


def test_checkpoint_time_reads_uuid6_ids() -> None:
    now = time.time()
    assert abs(threads.checkpoint_time(uuid6_at(now)) - now) < 1e-3
    assert threads.checkpoint_time(str(uuid.uuid4())) is None
    assert threads.checkpoint_time("not-a-uuid") is None


def test_stats_reports_threads_and_bytes(store: Path) -> None:
    s = threads.stats(store)
    assert s.threads == 6 and s.checkpoints >= 12 and s.writes > 0
    assert s.payload_bytes > 0 and s.file_bytes >= s.payload_bytes
    assert s.newest_activity - s.oldest_activity > 399 * DAY


def test_prune_by_ttl_removes_whole_old_threads_only(store: Path) -> None:
    result = threads.prune(store, ttl_s=30 * DAY)
    assert sorted(result.removed_ids) == ["t3", "t4", "t5"]
    assert result.threads_kept == 3 and result.checkpoints_removed > 0
    conn = sqlite3.connect(store)
    left = {r[0] for r in conn.execute("SELECT DISTINCT thread_id FROM writes")}
    left |= {r[0] for r in conn.execute("SELECT DISTINCT thread_id FROM checkpoints")}
    conn.close()
    assert left == {"t0", "t1", "t2"}
    assert _state(store, "t1") == {"x": 2}  # a kept thread still resumes
    assert _state(store, "t4") == {}


def test_prune_by_count_keeps_the_most_recent(store: Path) -> None:
    dry = threads.prune(store, max_threads=2, dry_run=True)
    assert dry.threads_removed == 4 and threads.stats(store).threads == 6
    result = threads.prune(store, max_threads=2, vacuum=True)
    assert sorted(result.removed_ids) == ["t2", "t3", "t4", "t5"]
    assert threads.stats(store).threads == 2


def test_prune_on_a_missing_store_is_a_no_op(tmp_path: Path) -> None:
    assert threads.prune(tmp_path / "none.sqlite", ttl_s=0).threads_removed == 0
    assert threads.stats(tmp_path / "none.sqlite").threads == 0


def test_threads_cli(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from switchyard.cli.main import app

    monkeypatch.setenv("SWITCHYARD_HOME", str(store.parent))
    runner = CliRunner()
    out = runner.invoke(app, ["threads", "stats", "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["threads"] == 6
    out = runner.invoke(app, ["threads", "prune", "--ttl", "30d", "--max-threads", "2",
                              "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["threads_removed"] == 4
    bad = runner.invoke(app, ["threads", "prune", "--ttl", "soon"])
    assert bad.exit_code == 2 and "not a duration" in bad.output
