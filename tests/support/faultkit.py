"""Fault-injection helpers shared by the ``test_faults_*`` modules.

- ``read_only(path)``: a read-only bind mount of ``path`` over itself (root ignores ``chmod``,
  not a read-only mount); the test is skipped when mounting is not permitted.
- ``full_disk(path, free)``: a small tmpfs at ``path`` filled until only ``free`` bytes remain.
- ``kill_at(code, marker)``: run ``code`` in a fresh interpreter, wait until it creates
  ``marker`` (the injection point), then SIGKILL it, as a crash or an OOM kill would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, timeout=30)


def _umount(path: Path) -> None:
    # Lazy if busy (a file still open): the mount never outlives the test.
    done = subprocess.run(["umount", str(path)], check=False, capture_output=True, timeout=30)
    if done.returncode != 0:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True, timeout=30)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    try:
        _mount("--bind", str(path), str(path))
    except (OSError, subprocess.SubprocessError):
        pytest.skip("mount --bind is not permitted here")
    try:
        _mount("-o", "remount,ro,bind", str(path))
        probe = path / ".ro-probe"
        with contextlib.suppress(OSError):
            probe.write_text("x")
            probe.unlink()
            pytest.skip("the read-only bind mount is still writable")
        yield path
    finally:
        _umount(path)


@contextlib.contextmanager
def full_disk(path: Path, size: str = "64m", free: int = 0) -> Iterator[Path]:
    """A tmpfs at ``path``; call ``fill(path, free)`` once the needed files are copied in."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    except (OSError, subprocess.SubprocessError):
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        yield path
    finally:
        _umount(path)


def fill(path: Path, free: int = 0) -> None:
    """Write a filler file until at most ``free`` bytes are left on ``path``'s filesystem."""
    block = b"\0" * 65536
    with (path / ".filler").open("wb") as fh:
        try:
            while shutil.disk_usage(path).free > free:
                fh.write(block[: max(4096, min(len(block), shutil.disk_usage(path).free - free))])
                fh.flush()
        except OSError:
            pass


def copy_home(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        target = dst / entry.name
        if entry.is_dir():
            shutil.copytree(entry, target, dirs_exist_ok=True)
        else:
            shutil.copy2(entry, target)
    return dst


def kill_at(code: str, marker: Path, env: dict[str, str] | None = None,
            timeout: float = 240.0) -> int:
    """Run ``code``; SIGKILL it once ``marker`` exists. Returns the child's pid."""
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while not marker.exists():
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"child exited {proc.returncode} before the injection "
                                     f"point:\n{out.decode()}\n{err.decode()}")
            if time.monotonic() > deadline:
                raise AssertionError("child never reached the injection point")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    return proc.pid
