"""Real ``switchyard serve`` processes for multi-replica tests: free ports, wait for /readyz,
always terminate, and keep each replica's log so a failure can show it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Replica:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, n: int = 60) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return f"--- {self.name} (port {self.port}) log tail ---\n" + "\n".join(lines[-n:])


def _start(name: str, env: dict[str, str], logdir: Path, command: list[str]) -> Replica:
    port = free_port()
    log = logdir / f"{name}.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [*command, "serve", "--port", str(port), "--log-level", "warning"],
            env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    return Replica(name, port, proc, log)


def _wait_ready(replicas: list[Replica], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pending = list(replicas)
    while pending:
        for r in list(pending):
            if r.proc.poll() is not None:
                raise RuntimeError(f"replica {r.name} exited with {r.proc.returncode}\n{r.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{r.url}/readyz", timeout=2).status_code == 200:
                    pending.remove(r)
        if pending and time.monotonic() > deadline:
            raise RuntimeError("replicas not ready in time\n"
                               + "\n".join(r.tail() for r in pending))
        time.sleep(0.3)


def _stop(replica: Replica) -> None:
    if replica.proc.poll() is None:
        # Its own session (start_new_session): signal only the process we started.
        replica.proc.send_signal(signal.SIGTERM)
        try:
            replica.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            replica.proc.kill()
            replica.proc.wait(timeout=10)


@contextlib.contextmanager
def serve_replicas(specs: list[tuple[str, dict[str, str]]], logdir: Path, *,
                   timeout_s: float = 240.0, command: list[str] | None = None
                   ) -> Iterator[dict[str, Replica]]:
    """Start one ``switchyard serve`` per (name, env) (env on top of os.environ), wait until
    every one answers /readyz, and stop them all afterwards, whatever happens. ``command``: the
    ``switchyard`` to run (default: this interpreter's, ``python -m switchyard``)."""
    replicas: list[Replica] = []
    try:
        for name, env in specs:
            replicas.append(_start(name, {**os.environ, **env}, logdir,
                                   command or [sys.executable, "-m", "switchyard"]))
        _wait_ready(replicas, timeout_s)
        yield {r.name: r for r in replicas}
    finally:
        for r in replicas:
            _stop(r)
