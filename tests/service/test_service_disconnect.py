"""A client that disconnects from the stream stalls no one: its single-flight ticket is released.

The real service under uvicorn on a loopback port, the offline model with simulated latency (so a
request is still in its tier when the client goes away), and a real TCP disconnect.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

QUESTION = "How do I change the timezone of my workspace settings?"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_stream_disconnect_releases_the_flight_for_the_next_user(deps) -> None:
    import uvicorn

    from switchyard.service.app import ServiceConfig, create_app
    from switchyard.service.auth import issue_token

    settings = deps.settings.model_copy(update={
        "auth": "jwt", "auth_secret": SecretStr("disconnect-secret-" + "d" * 32),
        "secret": SecretStr("disconnect-deployment"), "simulate_latency": True})
    # A long lease: without the release, the twin below would wait all of it.
    settings.cache.single_flight_timeout_s = 60.0
    app = create_app(ServiceConfig(settings=settings, prepare=False))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    serving = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            for _ in range(600):
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            tenant = f"t-{time.monotonic_ns()}"

            def headers(user: str) -> dict[str, Any]:
                return {"authorization": f"Bearer {issue_token(settings, user, tenant=tenant)}"}

            # Disconnect right after the route event: the request is now in its (slow) tier.
            async with client.stream("POST", "/v1/chat/stream", json={"message": QUESTION},
                                     headers=headers("u-0001")) as resp:
                assert resp.status_code == 200
                async for line in resp.aiter_lines():
                    if line.startswith("event: route"):
                        break
            await asyncio.sleep(0.2)  # the server notices the closed connection
            start = time.perf_counter()
            twin = await client.post("/v1/chat", json={"message": QUESTION},
                                     headers=headers("u-0002"))
            elapsed = time.perf_counter() - start
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 60)
    assert twin.status_code == 200, twin.text
    body = twin.json()
    assert body["answer"] and body["cache_hit"] is False
    assert elapsed < 20, f"the next identical request took {elapsed:.1f} s (a stuck flight)"
