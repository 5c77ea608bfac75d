"""``switchyard ask`` as a user runs it: separate processes sharing SWITCHYARD_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
EXE = str(Path(sys.executable).parent / "switchyard")


def _run(args: list, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SWITCHYARD_HOME": str(home), "SWITCHYARD_OFFLINE": "true"}
    return subprocess.run([EXE, *args], capture_output=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def home(switchyard_home: Path, sy) -> Path:
    # Share the session's home: ``sy`` built the database, index and classifier there.
    return switchyard_home


def test_second_process_hits_the_cache_the_first_filled(home):
    text = "How do I add a new step to an existing workflow?"
    first = json.loads(_run(["ask", text, "--json", "--user", "u-0007"], home).stdout)
    for key in ("answer", "agent", "complexity", "cache_hit", "similarity", "cost_usd",
                "latency_ms", "model", "tools_used", "sources"):
        assert key in first
    assert first["agent"] == "fast" and first["cache_hit"] is False and first["cost_usd"] > 0
    second = json.loads(_run(["ask", text, "--json", "--user", "u-0007"], home).stdout)
    assert second["cache_hit"] is True and second["cost_usd"] == 0


@pytest.mark.parametrize(
    ("arg", "needle"),
    [("", "empty"), ("   \t ", "empty"), ("x" * 100_000, "characters"), (b"caf\xe9 \xff", "UTF-8")],
)
def test_bad_input_gives_a_clear_error_never_a_traceback(home, arg, needle):
    proc = _run(["ask", arg, "--json"], home)
    assert proc.returncode == 2
    assert b"Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    assert needle in out["error"]


def test_human_output_shows_the_route(home):
    proc = _run(["ask", "What plan are we on?"], home)
    assert proc.returncode == 0, proc.stderr
    assert b"agent" in proc.stdout and b"cache" in proc.stdout
