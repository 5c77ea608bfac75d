"""Single-flight across replicas (switchyard.cache.pg_singleflight), tested with real OS processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time

import pytest
from support.procs import REPO, run_together

_REPLICA = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from switchyard.pg.pool import open_async_pool
    from switchyard.cache.pg_singleflight import PgSingleFlight

    url, key, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3])

    async def one(flights):
        lease = await flights.acquire(key, 5.0)
        if lease.leader:
            await asyncio.sleep(0.6)  # the model call
            assert await flights.release(key, lease.token, True)
            return {"role": "leader"}
        res = await flights.wait(key, 10.0)
        return {"role": "follower", "outcome": res.outcome, "waited": res.waited_s}

    async def main():
        pool = await open_async_pool(url, max_size=tasks + 1)
        flights = PgSingleFlight(pool)
        await flights._listener.start()
        print("ready", flush=True); sys.stdin.readline()  # start together
        out = await asyncio.gather(*(one(flights) for _ in range(tasks)))
        await flights.close(); await pool.close()
        print(json.dumps(out))

    asyncio.run(main())
    """
)

_DEAD_LEADER = textwrap.dedent(
    """
    import asyncio, os, sys
    from switchyard.pg.pool import open_async_pool
    from switchyard.cache.pg_singleflight import PgSingleFlight

    async def main():
        pool = await open_async_pool(sys.argv[1], max_size=1)
        lease = await PgSingleFlight(pool).acquire(sys.argv[2], float(sys.argv[3]))
        print("leader" if lease.leader else "follower", flush=True)
        os._exit(0)  # dies holding the lease: no release, no clean shutdown

    asyncio.run(main())
    """
)


@pytest.fixture
async def flights(pg_url: str, pg_clean):
    from switchyard.cache.pg_singleflight import PgSingleFlight
    from switchyard.pg.pool import open_async_pool

    pool = await open_async_pool(pg_url, max_size=4)
    sf = PgSingleFlight(pool, poll_s=5.0)  # slower than any wake-up the tests expect
    yield sf
    await sf.close()
    await pool.close()


def test_one_leader_across_processes_followers_woken(pg_url: str, pg_clean) -> None:
    results = run_together(_REPLICA, [[pg_url, "k|how do i reset", "4"]] * 2)
    leaders = [r for r in results if r["role"] == "leader"]
    followers = [r for r in results if r["role"] == "follower"]
    assert len(leaders) == 1 and len(followers) == 7
    # Woken by the NOTIFY as soon as the leader released, in both processes.
    assert all(r["outcome"] == "stored" for r in followers), followers
    assert all(r["waited"] < 4.5 for r in followers), followers  # before the 5 s lease ends


async def test_dead_leader_costs_at_most_one_lease(pg_url: str, flights) -> None:
    key, lease_s = "k|dead leader", 1.5
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _DEAD_LEADER, pg_url, key, str(lease_s), cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert out.decode().strip() == "leader", err.decode()[-2000:]
    mine = await flights.acquire(key, 5.0)
    assert not mine.leader  # the dead process still holds the lease
    start = time.monotonic()
    res = await flights.wait(key, 30.0)
    waited = time.monotonic() - start
    assert res.outcome == "lease_expired" and res.leader_stored is None
    assert waited <= lease_s + 1.5  # one lease (+ scheduling slack), not the 30 s timeout
    taken = await flights.acquire(key, 5.0)
    assert taken.leader  # the next claim wins straight away
    assert await flights.release(key, taken.token, False)


async def test_release_needs_the_token_timeout_renew_and_failed_leader(flights) -> None:
    lead = await flights.acquire("k|a", 5.0)
    assert lead.leader and lead.token
    follower = await flights.acquire("k|a", 5.0)
    assert not follower.leader and follower.expires_at == pytest.approx(lead.expires_at)
    assert not await flights.release("k|a", "not-my-token", True)
    assert not await flights.release("k|a", follower.token, True)  # followers hold nothing
    res = await flights.wait("k|a", 0.3)
    assert res.outcome == "timeout" and 0.25 < res.waited_s < 2.0
    assert await flights.renew("k|a", lead.token, 60.0)
    assert not await flights.renew("k|a", "not-my-token", 60.0)
    waiter = asyncio.create_task(flights.wait("k|a", 10.0))
    await asyncio.sleep(0.2)
    assert await flights.release("k|a", lead.token, False)  # the model call failed
    res = await asyncio.wait_for(waiter, 5.0)
    assert res.outcome == "failed" and res.leader_stored is False and res.waited_s < 2.5
    assert (await flights.wait("k|a", 5.0)).outcome == "released"  # nothing in flight
    with pytest.raises(ValueError):
        await flights.acquire("k|b", 0)
