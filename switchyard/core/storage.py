"""What the storage under SWITCHYARD_HOME can do right now, said plainly.

``storage_health(settings)`` is the honest part of readiness: a write probe in the home (a full
or read-only disk fails every chat, whatever the process thinks of itself), the customer
database readable, the knowledge index committed with its files present. ``describe_error``
turns the OS and SQLite errors behind those faults into one sentence a person can act on; the
CLI and the service use it instead of printing a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
READ_ONLY = frozenset({errno.EROFS})
DENIED = frozenset({errno.EACCES, errno.EPERM})
# Enough for a few SQLite pages (a cache entry, a checkpoint): less and writes start failing.
_PROBE_BYTES = 64 * 1024


@dataclass(frozen=True)
class StorageProblem:
    component: str  # "home", "database" or "knowledge_index"
    kind: str  # "full", "read_only", "denied", "missing", "unreadable", "io"
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class StorageError(RuntimeError):
    """A storage fault with a message fit for the user (see ``describe_error``)."""

    def __init__(self, message: str, kind: str = "io") -> None:
        super().__init__(message)
        self.kind = kind


def classify_error(exc: BaseException) -> str | None:
    """'full', 'read_only', 'denied', 'io' for storage faults; None for anything else."""
    if isinstance(exc, StorageError):
        return exc.kind
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno in FULL:
            return "full"
        if exc.errno in READ_ONLY:
            return "read_only"
        if exc.errno in DENIED:
            return "denied"
        if exc.errno == errno.EIO:
            return "io"
        return None
    if isinstance(exc, sqlite3.Error):
        text = str(exc).lower()
        if "disk is full" in text or "database or disk is full" in text:
            return "full"
        if "readonly database" in text or "read-only" in text:
            return "read_only"
        if "disk i/o error" in text or "unable to open database file" in text:
            return "io"
    return None


def describe_error(exc: BaseException, where: Path | str | None = None) -> str | None:
    """One clear sentence for a storage fault, or None if ``exc`` is not one."""
    kind = classify_error(exc)
    if kind is None:
        return None
    if isinstance(exc, StorageError):
        return str(exc)
    place = where or getattr(exc, "filename", None)
    at = f" ({place})" if place else ""
    detail = getattr(exc, "strerror", None) or str(exc)
    if kind == "full":
        return (f"the server's storage is full{at}: {detail}. Free some space (or grow the "
                "volume) under SWITCHYARD_HOME; nothing was changed.")
    if kind == "read_only":
        return (f"the server's storage is read-only{at}: {detail}. switchyard needs to write "
                "under SWITCHYARD_HOME; remount it read-write or point SWITCHYARD_HOME elsewhere.")
    if kind == "denied":
        return (f"no permission to write the server's storage{at}: {detail}. Fix the "
                "ownership/permissions of SWITCHYARD_HOME or point it elsewhere.")
    return (f"the server's storage failed{at}: {detail}. Check the disk and the files "
            "under SWITCHYARD_HOME.")


def open_sqlite_read_only(path: Path, timeout: float = 10.0) -> sqlite3.Connection:
    """A read-only SQLite connection that also works on a read-only home.

    A WAL database needs its -shm file; on a read-only mount or snapshot that file cannot be
    created, so fall back to ``immutable=1``, safe there because nothing can write the file."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")
        return conn
    except sqlite3.OperationalError:
        if os.access(Path(path).parent, os.W_OK):
            raise
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, timeout=timeout)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")
        return conn


def _problem(component: str, exc: BaseException, where: Path) -> StorageProblem:
    kind = classify_error(exc) or "io"
    return StorageProblem(component, kind, describe_error(exc, where) or f"{where}: {exc}")


def probe_write(home: Path) -> None:
    """Write, fsync and delete a small file in ``home``; raises what the disk raises."""
    probe = home / f".write-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with probe.open("wb") as fh:
            fh.write(b"\0" * _PROBE_BYTES)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        with contextlib.suppress(FileNotFoundError):
            probe.unlink()
