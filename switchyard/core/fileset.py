"""Files that change together, committed by one manifest.

A fitted model is several files (arrays, a lexicon) and a JSON manifest that names them and their
sha256. Replacing them one after another leaves a mix of two generations whenever the process
dies or the disk fills between two steps, and the model no longer loads. Here every data file is
written under a name of its own content (``model.3f2a9c01d4e5b6a7.npz``), and the manifest, written
last by an atomic rename, is the one commit point: before it the old generation is whole, after
it the new one. Files no manifest names are removed after the commit. Writers of one directory
take turns (an exclusive ``flock``), so one never removes another's files before its commit.

    with FileSet(directory, "outcome.json") as files:
        arrays = files.add("outcome", ".npz", lambda p: np.savez(p, ...))
        files.commit({"files": {"arrays": arrays.name}, "sha256": arrays.sha256, ...})

Reading: :func:`named_file` resolves a manifest's entry (a bare file name, never a path).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

_LOCK = ".write.lock"
_NAME = re.compile(r"^[A-Za-z0-9_-]+(\.[0-9a-f]{16})?\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class Written:
    name: str  # the file's name in the directory
    sha256: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileSet:
    """One generation of a directory's files; see the module doc."""

    def __init__(self, directory: Path, manifest: str) -> None:
        self.directory = Path(directory)
        self.manifest = manifest
        self._stems: set[tuple[str, str]] = set()
        self._written: list[Path] = []  # every file of this generation
        self._created: list[Path] = []  # those no earlier generation had (same content, same name)
        self._lock_fd: int | None = None
        self._committed = False

    def __enter__(self) -> FileSet:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if not self._committed:  # nothing names them: the old generation stays as it was
                for path in self._created:
                    with contextlib.suppress(OSError):
                        path.unlink()
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the lock
                self._lock_fd = None

    def add(self, stem: str, suffix: str, write: Callable[[Path], None]) -> Written:
        """Write one file through ``write(path)`` (``path`` ends in ``suffix``) and name it by
        its content: ``{stem}.{sha256[:16]}{suffix}``."""
        if self._lock_fd is None:
            raise RuntimeError("FileSet.add() outside its `with` block")
        tmp = self.directory / f".{stem}.{os.getpid()}.tmp{suffix}"
        try:
            write(tmp)
            _fsync(tmp)
            sha = sha256_of(tmp)
            final = self.directory / f"{stem}.{sha[:16]}{suffix}"
            if final.exists() and sha256_of(final) == sha:  # an earlier generation's very file
                tmp.unlink()
            else:
                os.replace(tmp, final)
                self._created.append(final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        self._stems.add((stem, suffix))
        self._written.append(final)
        return Written(final.name, sha)

    def commit(self, manifest: Mapping[str, Any]) -> None:
        """Write the manifest atomically (the commit point), then remove the files of the
        stems added here that it does not name (older generations, and the fixed names used
        before generations: ``{stem}{suffix}``)."""
        path = self.directory / self.manifest
        tmp = self.directory / f".{self.manifest}.{os.getpid()}.tmp"
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                fh.write(json.dumps(manifest, indent=1))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        self._committed = True
        with contextlib.suppress(OSError):  # the rename is on disk once its directory is
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        keep = {p.name for p in self._written}
        for stem, suffix in self._stems:
            for old in self.directory.glob(f"{stem}*{suffix}"):
                if old.name not in keep and (old.name == f"{stem}{suffix}"
                                             or re.fullmatch(rf"{re.escape(stem)}\.[0-9a-f]{{16}}"
                                                             rf"{re.escape(suffix)}", old.name)):
                    with contextlib.suppress(OSError):
                        old.unlink()


def named_file(directory: Path, manifest: Mapping[str, Any], key: str, before: str) -> Path:
    """The file a manifest names under ``files[key]``; ``before`` for a manifest written before
    generations (no ``files``). A name that is not a plain file name of this scheme is refused
    (ValueError): a manifest never points outside its directory."""
    name = (manifest.get("files") or {}).get(key, before)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"the manifest in {directory} names an invalid file for {key!r}: "
                         f"{str(name)[:80]!r}")
    return Path(directory) / name
