"""``GET /metrics``: this replica's Prometheus metrics (``switchyard.observability.metrics``).

On the service's port it needs an operator's token in jwt mode (``service/operator.py``). With
``SWITCHYARD_OBSERVABILITY__METRICS_PORT`` a second listener in the same process serves only
``/metrics``, without a token, on ``metrics_host`` (default 127.0.0.1): bind it to the address
your monitoring network reaches and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request, Response

from switchyard.core.settings import Settings
from switchyard.observability.metrics import CONTENT_TYPE_LATEST
from switchyard.service.operator import require_operator

log = logging.getLogger("switchyard.service")


async def exposition(service: Any) -> Response:
    """The replica's metrics, with the store gauges refreshed (off the event loop)."""
    sy = service.switchyard
    await sy.observed_stores(service.threads)
    body = await asyncio.to_thread(sy.metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def register(app: FastAPI, settings: Settings, service: Callable[[Request], Any]) -> None:
    """Add ``GET /metrics`` (operator only) to the service's app."""
    if not settings.observability.metrics:
        return

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        require_operator(request, settings)
        return await exposition(service(request))


@contextlib.asynccontextmanager
async def listener(settings: Settings, service: Callable[[], Any]) -> AsyncIterator[None]:
    """The second, token-less ``/metrics`` listener while the service runs (when configured)."""
    port = settings.observability.metrics_port
    if port is None or not settings.observability.metrics:
        yield
        return
    import uvicorn

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/metrics")
    async def metrics() -> Response:
        svc = service()
        if svc is None:
            return Response("starting\n", status_code=503, media_type="text/plain")
        return await exposition(svc)

    host = settings.observability.metrics_host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:  # bound here, so a taken port stops the start-up with the reason
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RuntimeError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc} "
                           "(SWITCHYARD_OBSERVABILITY__METRICS_PORT / --metrics-port)") from exc
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    # Signals belong to the main server: this one stops when the service does.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    log.info("metrics on http://%s:%d/metrics (no token)", host, port)
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 5)
        sock.close()
