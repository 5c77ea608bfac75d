"""Fault figure: concurrent oversize request bodies against a real ``switchyard serve``.

Starts the server on a free port (in SWITCHYARD_HOME, which it prepares on start if
``switchyard setup`` has not; offline model and throwaway secrets unless the environment sets
them), measures its resident memory idle, then streams ``--count`` bodies of ``--size-mb`` MiB at once
with httpx (with a Content-Length header, then again chunked without one) while sampling RSS
every 10 ms, and prints per request the status and how much of the body the server let the
client send, plus idle and peak RSS.

    SWITCHYARD_HOME=/tmp/h .venv/bin/python benchmarks/bench_big_bodies.py --count 4 --size-mb 150
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator

import httpx

MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss(pid: int) -> int:
    """Resident set size from /proc (uvicorn with one worker serves in this very process)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss(self.pid))
            time.sleep(0.01)


async def send(client: httpx.AsyncClient, url: str, size: int, chunked: bool) -> tuple[str, int]:
    sent = 0
    block = b"x" * MiB

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < size:
            piece = block[: min(MiB, size - sent)]
            sent += len(piece)
            yield piece

    headers = {"content-type": "application/json"}
    if not chunked:
        headers["content-length"] = str(size)
    try:
        resp = await client.post(url, content=body(), headers=headers)
        return f"{resp.status_code} {resp.json().get('error', '')[:70]}", sent
    except httpx.HTTPError as exc:  # the figure must say so if a client saw no response
        return f"no response ({type(exc).__name__})", sent


async def round_trip(url: str, count: int, size: int, chunked: bool) -> list[tuple[str, int]]:
    async with httpx.AsyncClient(timeout=120) as client:
        return await asyncio.gather(*(send(client, url, size, chunked) for _ in range(count)))


def wait_ready(base: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("server not ready in time")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--size-mb", type=int, default=150)
    ap.add_argument("--ready-timeout", type=float, default=600)
    args = ap.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = os.environ.copy()
    # What a server refuses to start without; the bodies are refused before any of it is used.
    env.setdefault("SWITCHYARD_OFFLINE", "true")
    env.setdefault("SWITCHYARD_AUTH_SECRET", secrets.token_hex(32))
    env.setdefault("SWITCHYARD_SECRET", secrets.token_hex(32))
    server = subprocess.Popen([sys.executable, "-m", "switchyard", "serve", "--port", str(port),
                               "--log-level", "warning"], env=env)
    try:
        wait_ready(base, server, args.ready_timeout)
        time.sleep(1.0)
        idle = max(rss(server.pid) for _ in range(20) if time.sleep(0.05) is None)
        print(f"server pid {server.pid} on :{port}; idle RSS {idle / MiB:.1f} MiB")
        for chunked in (False, True):
            sampler = Sampler(server.pid)
            sampler.start()
            started = time.perf_counter()
            results = asyncio.run(round_trip(f"{base}/v1/chat", args.count,
                                             args.size_mb * MiB, chunked))
            elapsed = time.perf_counter() - started
            time.sleep(0.3)
            sampler.stop.set()
            sampler.join()
            mode = "chunked, no Content-Length" if chunked else "with Content-Length"
            print(f"\n{args.count} x {args.size_mb} MiB bodies, {mode}: {elapsed:.2f} s")
            for i, (status, sent) in enumerate(results, 1):
                print(f"  request {i}: {status} | body bytes the client got to send: "
                      f"{sent / MiB:.1f} MiB")
            print(f"  RSS idle {idle / MiB:.1f} MiB -> peak {sampler.peak / MiB:.1f} MiB "
                  f"(+{(sampler.peak - idle) / MiB:.1f} MiB)")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
