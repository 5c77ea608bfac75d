"""Single-flight: identical requests arriving together share one model call.

The first request for a key becomes the *leader* and computes; later ones become *followers*
and wait (bounded) until the leader releases, then look the cache up again. If the leader fails
(release with ``stored=False``) or the wait times out, followers fall through and compute
themselves: slower, never wrong, never stuck.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FlightTicket:
    key: str
    leader: bool
    token: int = 0
    waited_s: float = 0.0
    leader_stored: bool | None = None  # followers: did the leader store an answer?
    timed_out: bool = False


@dataclass
class _Flight:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[bool]
    token: int
    followers: int = field(default=0)


class SingleFlight:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self._tokens = itertools.count(1)

    def in_flight(self) -> int:
        with self._lock:
            return len(self._flights)

    async def acquire(self, key: str, timeout_s: float) -> FlightTicket:
        loop = asyncio.get_running_loop()
        with self._lock:
            flight = self._flights.get(key)
            # A flight from another (possibly closed) event loop cannot be awaited here.
            if flight is None or flight.loop is not loop or flight.future.done():
                token = next(self._tokens)
                self._flights[key] = _Flight(loop=loop, future=loop.create_future(), token=token)
                return FlightTicket(key=key, leader=True, token=token)
            flight.followers += 1
        start = time.perf_counter()
        try:
            stored = await asyncio.wait_for(asyncio.shield(flight.future), timeout_s)
        except TimeoutError:
            return FlightTicket(
                key=key, leader=False, waited_s=time.perf_counter() - start, timed_out=True
            )
        return FlightTicket(
            key=key, leader=False, waited_s=time.perf_counter() - start, leader_stored=bool(stored)
        )

    def release(self, ticket: FlightTicket, stored: bool) -> None:
        if not ticket.leader:
            return
        with self._lock:
            flight = self._flights.get(ticket.key)
            if flight is None or flight.token != ticket.token:
                return
            del self._flights[ticket.key]

        def _wake() -> None:
            if not flight.future.done():
                flight.future.set_result(stored)

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is flight.loop:
            _wake()
        elif not flight.loop.is_closed():
            # Released from a worker thread (sync node): hand the wake-up to the owning loop.
            flight.loop.call_soon_threadsafe(_wake)
