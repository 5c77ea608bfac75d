"""An async HTTP client for the OpenAI SDK that is safe across event loops.

langchain-openai caches one async httpx client per (base_url, timeout) for the whole process, and
its pooled connections belong to the event loop that opened them: after the first
``asyncio.run`` ends, the next one fails with "Event loop is closed". Here the client stays the
same object but routes each request to a connection pool owned by the running loop; pools of
closed loops are dropped.
"""

from __future__ import annotations

from typing import Any

import openai

from switchyard.core.loops import PerLoop

# openai>=3 is built on httpx2 (same API as httpx); the client handed to it must match.
if int(openai.__version__.split(".")[0]) >= 3:
    import httpx2 as httpx
else:  # pragma: no cover - depends on the installed SDK
    import httpx


class PerLoopTransport(httpx.AsyncBaseTransport):
    """One ``AsyncHTTPTransport`` (connection pool) per running event loop."""

    def __init__(self, **transport_kwargs: Any) -> None:
        # Pools of finished loops are forgotten: their sockets cannot be used or awaited.
        self._pools: PerLoop[httpx.AsyncHTTPTransport] = PerLoop(
            lambda: httpx.AsyncHTTPTransport(**transport_kwargs))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._pools.get().handle_async_request(request)

    async def aclose(self) -> None:
        pool = self._pools.pop()
        if pool is not None:
            await pool.aclose()

    @property
    def pools(self) -> int:
        return len(self._pools)


def async_http_client(max_connections: int) -> httpx.AsyncClient:
    """An async client for ``ChatOpenAI(http_async_client=...)`` usable from any event loop."""
    limits = httpx.Limits(max_connections=max_connections,
                          max_keepalive_connections=min(max_connections, 100))
    return httpx.AsyncClient(transport=PerLoopTransport(limits=limits), follow_redirects=True)
