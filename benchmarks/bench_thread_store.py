"""How big the thread store gets: N one-shot requests through the real service (in-process ASGI,
offline model), then the size of ``threads.sqlite``.

    .venv/bin/python benchmarks/bench_thread_store.py --requests 5000

Runs in a throw-away SWITCHYARD_HOME (prepared by ``Switchyard.aopen``: seed, ingest, fit, which
takes minutes the first time) unless ``--home`` names one. Prints the request count, the wall
time and the store's size before and after, in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

from switchyard import Switchyard
from switchyard.core.settings import get_settings
from switchyard.service.app import ServiceConfig, create_app
from switchyard.service.auth import issue_token
from switchyard.threads.retention import stats

QUESTIONS = ["How do I add a teammate to my workspace?", "What does error code QS-429 mean?",
             "How do I reset my password?", "How do I export my data?",
             "Help me debug this system error: webhook deliveries fail with 401"]


async def drive(sy: Switchyard, requests: int, concurrency: int) -> None:
    settings = sy.settings
    app = create_app(ServiceConfig(switchyard=sy))
    async with app.router.lifespan_context(app):
        before = stats(settings.checkpoint_path)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                     timeout=120) as client:
            tokens = [issue_token(settings, f"u-{n:04d}") for n in range(1, 21)]
            sent = 0
            errors = 0
            started = time.perf_counter()

            async def worker(w: int) -> None:
                nonlocal sent, errors
                while sent < requests:
                    i = sent
                    sent += 1
                    resp = await client.post(
                        "/v1/chat", json={"message": QUESTIONS[i % len(QUESTIONS)]},
                        headers={"authorization": f"Bearer {tokens[i % len(tokens)]}"})
                    errors += resp.status_code != 200

            await asyncio.gather(*(worker(w) for w in range(concurrency)))
            wall = time.perf_counter() - started
        after = stats(settings.checkpoint_path)
    print(f"requests {requests} (one-shot, no thread_id), errors {errors}, wall {wall:.1f} s")
    print(f"thread store: {before.threads} threads / {before.file_bytes / 1e6:.2f} MB before, "
          f"{after.threads} threads / {after.file_bytes / 1e6:.2f} MB after")


async def main(requests: int, concurrency: int) -> None:
    # An entry point: the process's settings, with fresh secrets for this run's tokens.
    settings = get_settings().model_copy(update={
        "auth_secret": SecretStr(os.urandom(32).hex()), "secret": SecretStr(os.urandom(16).hex())})
    sy = await Switchyard.aopen(settings)  # the home is prepared before the clock starts
    try:
        await drive(sy, requests, concurrency)
    finally:
        await sy.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--home", type=Path, default=None,
                        help="a SWITCHYARD_HOME to use (default: a new temp dir)")
    args = parser.parse_args()
    if args.requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be at least 1")
    home = args.home or Path(tempfile.mkdtemp(prefix="switchyard-threads-"))
    os.environ["SWITCHYARD_HOME"] = str(home)
    os.environ.setdefault("SWITCHYARD_OFFLINE", "true")
    asyncio.run(main(args.requests, args.concurrency))
