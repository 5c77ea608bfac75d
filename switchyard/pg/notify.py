"""One LISTEN connection per channel and process, waking asyncio waiters by NOTIFY payload.

Payloads are ``"<topic>"`` or ``"<topic>:<detail>"``; a waiter registered for ``topic`` gets the
detail (or ""). Waiters must also re-check their condition on a timer: a notification sent while
the connection was being re-established is lost, and that must only delay them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

log = logging.getLogger(__name__)


class PgListener:
    def __init__(self, conninfo: str, channel: str) -> None:
        if not channel.isidentifier():
            raise ValueError(f"invalid channel name {channel!r}")
        self.conninfo = conninfo
        self.channel = channel
        self._waiters: dict[str, set[asyncio.Future[str]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closed = False

    async def start(self, timeout_s: float = 5.0) -> None:
        """Start listening (idempotent). Bounded: callers fall back to polling if it cannot."""
        if self._closed:
            raise RuntimeError("listener is closed")
        if self._task is None or self._task.done():
            self._ready.clear()
            self._task = asyncio.create_task(self._run(), name=f"listen-{self.channel}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout_s)

    def waiter(self, topic: str) -> asyncio.Future[str]:
        """A future resolved by the next NOTIFY for ``topic``; pass it to :meth:`discard` after."""
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(topic, set()).add(fut)
        return fut

    def discard(self, topic: str, fut: asyncio.Future[str]) -> None:
        waiters = self._waiters.get(topic)
        if waiters is not None:
            waiters.discard(fut)
            if not waiters:
                del self._waiters[topic]

    async def _run(self) -> None:
        while not self._closed:
            try:
                # A dedicated connection: LISTEN state must not leak into pooled connections.
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {self.channel}")
                    self._ready.set()
                    async for note in conn.notifies():
                        topic, _, detail = note.payload.partition(":")
                        for fut in list(self._waiters.get(topic, ())):
                            if not fut.done():
                                fut.set_result(detail)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep listening; waiters poll meanwhile
                log.warning("LISTEN %s lost its connection: %s", self.channel, exc)
                self._ready.clear()
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
