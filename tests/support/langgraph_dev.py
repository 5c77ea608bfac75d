"""A real ``langgraph dev`` server for a test: started in a folder, ready on /ok, stopped after."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

LANGGRAPH = Path(sys.executable).parent / "langgraph"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def langgraph_dev(cwd: Path, env: dict[str, str], workdir: Path,
                  args: tuple[str, ...] = ()) -> Iterator[str]:
    """``langgraph dev ARGS`` in ``cwd`` with exactly ``env``; yields its URL once /ok answers.
    Its log is ``workdir/server.log``; a LangGraph BlockingError in it fails the test."""
    port = free_port()
    log = workdir / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(LANGGRAPH), "dev", "--port", str(port), "--no-browser", "--no-reload", *args],
            cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"langgraph dev exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"langgraph dev not ready after 180 s:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
        yield url
    finally:
        # The CLI spawns workers: stop the whole group we started, then make sure it is gone.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        text = log.read_text(errors="replace")
        assert "BlockingError" not in text, text[-4000:]
