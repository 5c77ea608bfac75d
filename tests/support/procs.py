"""Helpers for tests that need several real OS processes (replicas) to start at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_together(script: str, argv_list: list[list[str]]) -> list:
    """Run ``python -c script argv...`` per argv list, release them together, merge outputs.

    Each script prints "ready", waits for a line on stdin, then prints a JSON list as its last
    line. Interpreter start-up under load then cannot stagger the processes' work.
    """
    procs = [subprocess.Popen([sys.executable, "-c", script, *argv], cwd=REPO,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
             for argv in argv_list]
    for proc in procs:
        line = proc.stdout.readline()
        assert line == b"ready\n", (line, proc.stderr.read().decode()[-2000:])
    for proc in procs:
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
    out = []
    for proc in procs:
        stdout, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()[-2000:]
        out += json.loads(stdout.decode().strip().splitlines()[-1])
    return out
