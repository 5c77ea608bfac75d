"""Threads across replicas (switchyard.threads.pg_lock): a thread checkpointed by one process goes on
in another, and turns of one thread never overlap across processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time

import pytest
from support.procs import REPO, run_together

_GRAPH = textwrap.dedent(
    """
    from langchain_core.messages import AIMessage
    from langgraph.graph import START, MessagesState, StateGraph

    def reply(state: MessagesState) -> dict:
        n = len(state["messages"])
        return {"messages": [AIMessage(f"seen {n} messages; last: {state['messages'][-1].content}")]}

    def build(saver):
        g = StateGraph(MessagesState)
        g.add_node("reply", reply)
        g.add_edge(START, "reply")
        return g.compile(checkpointer=saver)
    """
)

_FIRST_TURN = _GRAPH + textwrap.dedent(
    """
    import asyncio, sys
    from switchyard.pg.pool import open_checkpointer_pool
    from switchyard.threads.pg_lock import checkpointer, thread_turn_lock

    async def main():
        pool = await open_checkpointer_pool(sys.argv[1], max_size=2)
        graph = build(checkpointer(pool))
        async with thread_turn_lock(pool, "acme:conv-1"):
            await graph.ainvoke({"messages": [("user", "hello from process A")]},
                                {"configurable": {"thread_id": "acme:conv-1"}})
        await pool.close()
        print("done")

    asyncio.run(main())
    """
)

_TURNS = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from switchyard.pg.pool import open_checkpointer_pool
    from switchyard.threads.pg_lock import thread_turn_lock

    async def main():
        pool = await open_checkpointer_pool(sys.argv[1], max_size=4)
        spans = []
        async def turn():
            async with thread_turn_lock(pool, "acme:busy-thread", timeout_s=30):
                t_in = time.time()
                await asyncio.sleep(0.25)  # the turn
                spans.append((t_in, time.time()))
        print("ready", flush=True); sys.stdin.readline()
        await asyncio.gather(*(turn() for _ in range(3)))
        await pool.close()
        print(json.dumps(spans))

    asyncio.run(main())
    """
)


@pytest.fixture
async def cpool(pg_url: str, pg_clean):
    from switchyard.pg.pool import open_checkpointer_pool

    pool = await open_checkpointer_pool(pg_url, max_size=4)
    yield pool
    await pool.close()


async def test_thread_checkpointed_by_one_process_continues_in_another(pg_url, cpool) -> None:
    from switchyard.threads.pg_lock import checkpointer, thread_turn_lock

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _FIRST_TURN, pg_url, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert out.decode().strip() == "done", err.decode()[-2000:]
    scope: dict = {}
    exec(_GRAPH, scope)  # the same graph definition, in this (second) process
    graph = scope["build"](checkpointer(cpool))
    config = {"configurable": {"thread_id": "acme:conv-1"}}
    async with thread_turn_lock(cpool, "acme:conv-1"):
        result = await graph.ainvoke({"messages": [("user", "and hello from B")]}, config)
    texts = [m.content for m in result["messages"]]
    assert texts == [
        "hello from process A",
        "seen 1 messages; last: hello from process A",
        "and hello from B",
        "seen 3 messages; last: and hello from B",
    ]


def test_turns_of_one_thread_never_overlap_across_processes(pg_url, pg_clean) -> None:
    spans = run_together(_TURNS, [[pg_url]] * 2)
    assert len(spans) == 6
    spans.sort()
    for (_, out_a), (in_b, _) in zip(spans, spans[1:], strict=False):
        assert in_b >= out_a - 0.005, spans  # strictly one after the other
    assert spans[-1][1] - spans[0][0] >= 6 * 0.25 - 0.05


async def test_other_threads_run_in_parallel_and_busy_thread_times_out(cpool) -> None:
    from switchyard.threads.pg_lock import ThreadBusy, thread_turn_lock

    async def turn(key: str) -> tuple[float, float]:
        async with thread_turn_lock(cpool, key):
            t_in = time.monotonic()
            await asyncio.sleep(0.3)
            return t_in, time.monotonic()

    (a_in, a_out), (b_in, b_out) = await asyncio.gather(turn("acme:t1"), turn("acme:t2"))
    assert b_in < a_out and a_in < b_out  # different threads overlap
    async with thread_turn_lock(cpool, "acme:t1"):
        with pytest.raises(ThreadBusy, match="busy"):
            async with thread_turn_lock(cpool, "acme:t1", timeout_s=0.2):
                pass
    async with thread_turn_lock(cpool, "acme:t1", timeout_s=0.2):
        pass  # free again after the holder's transaction ended
    with pytest.raises(ValueError):
        async with thread_turn_lock(cpool, ""):
            pass
