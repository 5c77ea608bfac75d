"""Rate limits and concurrency caps across replicas (switchyard.llm.pg_limits), tested with several
OS processes; per-process limits (langchain's InMemoryRateLimiter, asyncio.Semaphore) are the
negative control showing what a cap that is not shared lets through."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time

import pytest
from support.procs import REPO, run_together

_RATE_CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    url, mode, n, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    def barrier():  # start together: "ready" to the parent, wait for its "go"
        print("ready", flush=True); sys.stdin.readline()
    stamps = []
    if mode == "memory":
        from langchain_core.rate_limiters import InMemoryRateLimiter
        lim = InMemoryRateLimiter(requests_per_second=rate, check_every_n_seconds=0.005)
        barrier()
        for _ in range(n):
            lim.acquire(); stamps.append(time.time())
    elif mode == "pg-sync":
        from switchyard.llm.pg_limits import PgRateLimiter
        from switchyard.pg.pool import open_pool
        pool = open_pool(url, max_size=1)
        lim = PgRateLimiter("tier:expert", rate, pool=pool)
        barrier()
        for _ in range(n):
            lim.acquire(); stamps.append(time.time())
        pool.close()
    else:
        from switchyard.llm.pg_limits import PgRateLimiter
        from switchyard.pg.pool import open_async_pool
        async def main():
            pool = await open_async_pool(url, max_size=4)
            lim = PgRateLimiter("tier:expert", rate, apool=pool)
            barrier()
            async def one():
                await lim.aacquire(); stamps.append(time.time())
            await asyncio.gather(*(one() for _ in range(n)))
            await pool.close()
        asyncio.run(main())
    print(json.dumps(stamps))
    """
)

_GATE_CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    url, mode, tasks, limit, hold = (sys.argv[1], sys.argv[2], int(sys.argv[3]),
        int(sys.argv[4]), float(sys.argv[5]))

    async def main():
        spans = []
        if mode == "local":
            sem = asyncio.Semaphore(limit)
            slot = lambda: sem
        else:
            from switchyard.llm.pg_limits import PgConcurrencyGate
            from switchyard.pg.pool import open_async_pool
            pool = await open_async_pool(url, max_size=tasks + 1)
            gate = PgConcurrencyGate(pool, "tier:expert", limit, lease_s=10.0)
            await gate.setup()
            slot = lambda: gate.slot(timeout_s=60)
        print("ready", flush=True); sys.stdin.readline()  # start together
        async def one():
            async with slot():
                t_in = time.time()
                await asyncio.sleep(hold)  # the model call
                spans.append((t_in, time.time()))
        await asyncio.gather(*(one() for _ in range(tasks)))
        if mode != "local":
            await gate.close(); await pool.close()
        print(json.dumps(spans))

    asyncio.run(main())
    """
)

_CRASHED_HOLDER = textwrap.dedent(
    """
    import asyncio, os, sys
    from switchyard.llm.pg_limits import PgConcurrencyGate
    from switchyard.pg.pool import open_async_pool

    async def main():
        pool = await open_async_pool(sys.argv[1], max_size=2)
        gate = PgConcurrencyGate(pool, "tier:crash", 1, lease_s=float(sys.argv[2]))
        async with gate.slot():
            print("holding", flush=True)
            os._exit(0)  # dies inside the call: no release

    asyncio.run(main())
    """
)


def _max_in_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    best, j = 0, 0
    for i, t in enumerate(stamps):
        while stamps[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def _max_overlap(spans: list[list[float]]) -> int:
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans],
                    key=lambda e: (e[0], e[1]))  # exits before entries at the same instant
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def test_rate_limit_holds_across_processes_per_process_limits_do_not(pg_url, pg_clean) -> None:
    rate, n = 10.0, 10
    argv = [[pg_url, mode, str(n), str(rate)] for mode in ("pg-sync", "pg-async", "pg-sync")]
    stamps = run_together(_RATE_CLIENT, argv)
    assert len(stamps) == 3 * n
    # GCRA with burst 1: at most rate * 1 s + 1 calls start in any 1-second window (+2 for
    # stamps bunched by scheduling delays on a loaded machine); the span cannot be shortened.
    assert _max_in_window(stamps, 1.0) <= rate + 3
    assert max(stamps) - min(stamps) >= (3 * n - 1) / rate - 0.05

    # Negative control: the same limit per process lets ~3x through.
    control = run_together(_RATE_CLIENT, [[pg_url, "memory", str(n), str(rate)]] * 3)
    assert _max_in_window(control, 1.0) > 2 * rate


def test_concurrency_cap_holds_across_processes_per_process_semaphores_do_not(
    pg_url, pg_clean
) -> None:
    limit, tasks, hold = 3, 4, 0.4
    argv = [[pg_url, "pg", str(tasks), str(limit), str(hold)]] * 3
    spans = run_together(_GATE_CLIENT, argv)
    assert len(spans) == 3 * tasks
    overlap = _max_overlap(spans)
    assert 2 <= overlap <= limit  # never more than the cap, and calls do run in parallel

    argv = [[pg_url, "local", str(tasks), str(limit), str(hold)]] * 3
    assert _max_overlap(run_together(_GATE_CLIENT, argv)) > limit  # negative control


@pytest.fixture
async def apool(pg_url: str, pg_clean):
    from switchyard.pg.pool import open_async_pool

    pool = await open_async_pool(pg_url, max_size=4)
    yield pool
    await pool.close()


async def test_crashed_holder_frees_its_slot_after_one_lease(pg_url: str, apool) -> None:
    from switchyard.llm.pg_limits import PgConcurrencyGate

    lease = 1.5
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CRASHED_HOLDER, pg_url, str(lease), cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert out.decode().strip() == "holding", err.decode()[-2000:]
    gate = PgConcurrencyGate(apool, "tier:crash", 1, lease_s=lease, poll_s=0.2)
    assert await gate.in_use() == 1
    start = time.monotonic()
    async with gate.slot(timeout_s=10):
        waited = time.monotonic() - start
    assert waited <= lease + 1.5  # one lease (+ scheduling slack), not the 10 s timeout
    assert await gate.in_use() == 0
    await gate.close()


async def test_gate_timeout_cancellation_and_wake_on_release(apool) -> None:
    from switchyard.llm.pg_limits import GateTimeout, PgConcurrencyGate

    gate = PgConcurrencyGate(apool, "tier:t", 1, lease_s=0.6, poll_s=5.0)  # poll slower than test
    got, done = asyncio.Event(), asyncio.Event()

    async def second() -> float:
        async with gate.slot(timeout_s=5):
            got.set()
            woke = time.monotonic()
            await done.wait()
        return woke

    async with gate.slot() as n:
        assert n == 0
        with pytest.raises(GateTimeout, match="limit 1"):
            async with gate.slot(timeout_s=0.2):
                pass
        await asyncio.sleep(0.7)  # longer than the lease: the heartbeat keeps the slot
        assert await gate.in_use() == 1
        waiter = asyncio.create_task(second())
        await asyncio.sleep(0.2)
        assert not got.is_set()
        released = time.monotonic()
    await asyncio.wait_for(got.wait(), 2.0)
    assert await gate.in_use() == 1
    done.set()
    assert await waiter - released < 2.5  # woken by the NOTIFY, not the 5 s poll
    assert await gate.in_use() == 0

    async def cancelled_holder() -> None:
        async with gate.slot():
            await asyncio.sleep(30)

    task = asyncio.create_task(cancelled_holder())
    await asyncio.sleep(0.2)
    assert await gate.in_use() == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await gate.in_use() == 0  # a cancelled call gives its slot back
    await gate.close()
    for bad in ({"limit": 0}, {"limit": 1, "lease_s": 0}):
        with pytest.raises(ValueError):
            PgConcurrencyGate(apool, "x", **bad)


def test_rate_limiter_as_chat_model_limiter_and_non_blocking(pg_pool, pg_clean) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from switchyard.llm.pg_limits import PgRateLimiter

    lim = PgRateLimiter("tier:fast", 4.0, pool=pg_pool)
    model = FakeListChatModel(responses=["a", "b", "c"], rate_limiter=lim)
    start = time.monotonic()
    assert [model.invoke("hi").content for _ in range(3)] == ["a", "b", "c"]
    assert time.monotonic() - start >= 2 / 4.0 - 0.02  # 3 calls at 4/s: >= 0.5 s
    slow = PgRateLimiter("tier:slow", 0.5, pool=pg_pool)
    assert slow.acquire(blocking=False) is True
    assert slow.acquire(blocking=False) is False  # next slot is 2 s away
    with pytest.raises(RuntimeError, match="no async pool"):
        asyncio.run(slow.aacquire())
    with pytest.raises(ValueError):
        PgRateLimiter("x", 0, pool=pg_pool)
    with pytest.raises(ValueError):
        PgRateLimiter("x", 1.0)
