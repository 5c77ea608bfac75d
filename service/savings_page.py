"""The savings page: ``GET /`` (plain HTML, its script, styles and uPlot shipped with the package,
no build step, no CDN) and ``GET /savings.json``, the figures it shows.

The HTML and assets hold no data and need no token; the figures do: in jwt mode an operator's
token (the page reads it from ``#token=...`` or asks for it, and keeps it in the tab's session
storage). The figures are this replica's, read back from its metrics registry
(``SwitchyardMetrics.summary``), so they equal what ``/metrics`` says. Off with
``SWITCHYARD_OBSERVABILITY__SAVINGS_PAGE=false``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from switchyard.core.settings import Settings
from switchyard.service.operator import require_operator

STATIC = Path(__file__).parent / "static"
# The page loads only its own files: no inline script, nothing from another origin.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' "
                               "'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def register(app: FastAPI, settings: Settings, service: Callable[[Request], Any]) -> None:
    """Add ``GET /``, its assets and ``GET /savings.json`` (when the page is on)."""
    obs = settings.observability
    if not obs.savings_page:
        return
    app.mount("/assets", StaticFiles(directory=STATIC), name="savings-assets")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "savings.html", media_type="text/html",
                            headers=PAGE_HEADERS)

    @app.get("/savings.json", include_in_schema=False)
    async def figures(request: Request) -> JSONResponse:
        require_operator(request, settings)
        data = service(request).switchyard.metrics.summary()
        data.update(scope="This replica", refresh_s=obs.page_refresh_s)
        return JSONResponse(data, headers={"Cache-Control": "no-store"})
