"""Single-flight: identical requests arriving together share one model call.

The first request for a key becomes the *leader* and computes; later ones become *followers* and
wait until the leader releases, then look the cache up again. A leader holds its flight on a
**lease**: if it never releases (its run failed, was cancelled, or its process died), the flight
expires after ``lease_s``, waiting followers wake, and the next request for the key leads. So a
dead leader costs its twins at most one lease and never poisons the key.

A ticket is plain data (key and token), so it can live in the graph state: whoever finishes the
run, or nobody, the outcome is bounded by the lease. Releasing with a stale token is a no-op.

Across replicas, a :class:`SharedFlights` (``switchyard.cache.pg_singleflight.PgFlights``) sits behind this
one: only a replica's local leader asks it (see ``SemanticCache.acquire_flight``).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class FlightTicket:
    key: str
    leader: bool
    token: str = ""
    waited_s: float = 0.0
    leader_stored: bool | None = None  # followers: did the leader store an answer?
    timed_out: bool = False  # followers: the lease ran out before the leader released


class SharedFlights(Protocol):
    """Single-flight across processes, on leases (``switchyard.cache.pg_singleflight``): ``acquire``
    returns an object with ``leader`` and ``token``; ``wait`` one with ``outcome``,
    ``waited_s`` and ``leader_stored``; ``release`` is a no-op for a stale token."""

    async def acquire(self, key: str, lease_s: float) -> Any: ...

    async def wait(self, key: str, timeout_s: float) -> Any: ...

    async def release(self, key: str, token: str, stored: bool) -> bool: ...

    def release_soon(self, key: str, token: str, stored: bool) -> None:
        """Release from sync code without blocking (in the background)."""


@dataclass
class _Flight:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[bool]
    token: str
    expires_at: float  # time.monotonic()


class SingleFlight:
    def __init__(self, lease_s: float = 30.0) -> None:
        self.lease_s = lease_s
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}

    def in_flight(self) -> int:
        now = time.monotonic()
        with self._lock:
            return sum(1 for f in self._flights.values() if f.expires_at > now and not f.future.done())

    async def acquire(self, key: str) -> FlightTicket:
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        with self._lock:
            flight = self._flights.get(key)
            # An expired lease, a finished flight or one from another (possibly closed) event loop
            # cannot be waited on: this request leads.
            if (flight is None or flight.loop is not loop or flight.future.done()
                    or flight.expires_at <= now):
                if flight is not None:
                    _wake(flight, False)
                token = uuid.uuid4().hex
                self._flights[key] = _Flight(loop=loop, future=loop.create_future(), token=token,
                                             expires_at=now + self.lease_s)
                return FlightTicket(key=key, leader=True, token=token)
        start = time.perf_counter()
        try:
            stored = await asyncio.wait_for(asyncio.shield(flight.future),
                                            max(0.0, flight.expires_at - now))
        except TimeoutError:
            return FlightTicket(key=key, leader=False, waited_s=time.perf_counter() - start,
                                timed_out=True)
        return FlightTicket(key=key, leader=False, waited_s=time.perf_counter() - start,
                            leader_stored=bool(stored))

    def release(self, key: str, token: str, stored: bool) -> bool:
        """End the flight ``token`` leads, waking its followers; False if it was not current."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is None or flight.token != token:
                return False
            del self._flights[key]
        _wake(flight, stored)
        return True


def _wake(flight: _Flight, stored: bool) -> None:
    def wake() -> None:
        if not flight.future.done():
            flight.future.set_result(stored)

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is flight.loop:
        wake()
    elif not flight.loop.is_closed():
        # Released from a worker thread (sync node) or another loop: hand it to the owning loop.
        flight.loop.call_soon_threadsafe(wake)
