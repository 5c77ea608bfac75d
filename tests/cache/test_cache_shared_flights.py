"""The cache's single-flight with a cross-replica half behind it (``SemanticCache.share_flights``),
against an in-memory stand-in for ``PgFlights``: only the local leader asks it, the ticket stays
plain data, stale releases are no-ops, and the sync release path never blocks."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from switchyard.cache import Partition
from switchyard.cache.faiss_backend import FaissSemanticCache


@dataclass
class _Lease:
    leader: bool
    token: str


@dataclass
class _Wait:
    outcome: str
    waited_s: float = 0.0

    @property
    def leader_stored(self) -> bool | None:
        return {"stored": True, "failed": False}.get(self.outcome)


class FakeSharedFlights:
    """One lease per key, like sy_flights; ``other_leads`` simulates another replica."""

    def __init__(self) -> None:
        self.leases: dict[str, str] = {}
        self.acquires = 0
        self.released: list[tuple[str, bool]] = []
        self.soon: list[str] = []
        self.done = asyncio.Event()

    async def acquire(self, key: str, lease_s: float) -> _Lease:
        self.acquires += 1
        if key in self.leases:
            return _Lease(False, "")
        token = uuid.uuid4().hex
        self.leases[key] = token
        return _Lease(True, token)

    async def wait(self, key: str, timeout_s: float) -> _Wait:
        await self.done.wait()
        return _Wait("stored")

    async def release(self, key: str, token: str, stored: bool) -> bool:
        if self.leases.get(key) != token:
            return False
        del self.leases[key]
        self.released.append((token, stored))
        self.done.set()
        return True

    def release_soon(self, key: str, token: str, stored: bool) -> None:
        self.soon.append(token)


def _cache(tmp_path) -> FaissSemanticCache:
    return FaissSemanticCache(tmp_path / "cache.sqlite")


def _part() -> Partition:
    return Partition(tenant="t", scope="public", tier="fast", versions="p1-t1-kb1")


async def test_only_the_local_leader_asks_the_other_replicas(tmp_path) -> None:
    cache, shared = _cache(tmp_path), FakeSharedFlights()
    cache.share_flights(shared)
    leader = await cache.acquire_flight("q", _part())
    twins = [asyncio.create_task(cache.acquire_flight("q", _part())) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert leader.leader and shared.acquires == 1  # the twins wait in-process
    local, _, remote = leader.token.partition(".")
    assert local and remote == shared.leases[leader.key]
    assert await cache.arelease_flight(leader.key, leader.token, True) is True
    assert shared.released == [(remote, True)]
    assert all(not t.leader and t.leader_stored for t in await asyncio.gather(*twins))
    # Stale: both halves already released.
    assert await cache.arelease_flight(leader.key, leader.token, True) is False
    assert shared.released == [(remote, True)]
    cache.close()


async def test_when_another_replica_leads_this_one_follows(tmp_path) -> None:
    cache, shared = _cache(tmp_path), FakeSharedFlights()
    cache.share_flights(shared)
    other = await shared.acquire("key-elsewhere", 30)  # placeholder lease on another key
    key_ticket = asyncio.create_task(cache.acquire_flight("q", _part()))
    await asyncio.sleep(0.05)
    assert key_ticket.done() and key_ticket.result().leader  # free key: we lead
    # A second cache (replica B) on the same shared flights: it follows A's lease.
    cache_b = FaissSemanticCache(tmp_path / "b.sqlite")
    cache_b.share_flights(shared)
    follower = asyncio.create_task(cache_b.acquire_flight("q", _part()))
    twin = asyncio.create_task(cache_b.acquire_flight("q", _part()))
    await asyncio.sleep(0.05)
    assert not follower.done() and not twin.done()
    ticket = key_ticket.result()
    await cache.arelease_flight(ticket.key, ticket.token, True)
    got, got_twin = await asyncio.gather(follower, twin)
    assert not got.leader and got.leader_stored is True
    assert not got_twin.leader  # B's twin waited on B's own leader, which waited on A
    assert other.leader
    cache.close()
    cache_b.close()


async def test_sync_release_never_blocks_and_schedules_the_shared_half(tmp_path) -> None:
    cache, shared = _cache(tmp_path), FakeSharedFlights()
    cache.share_flights(shared)
    ticket = await cache.acquire_flight("q", _part())
    remote = ticket.token.partition(".")[2]
    assert cache.release_flight(ticket.key, ticket.token, False) is True
    assert shared.soon == [remote]
    assert cache.release_flight(ticket.key, "stale.token", False) is False
    cache.close()
