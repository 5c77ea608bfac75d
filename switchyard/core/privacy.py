"""Pseudonyms for user ids: keyed hashes, so a stored or traced id cannot be reversed by hashing
every short id (``u-0001`` ... ``u-9999`` takes under a second without a key).

One per-deployment secret keys every hash (cache scope, thread key, trace user hash), each with its
own purpose label so the three never coincide. ``SWITCHYARD_SECRET`` sets it; replicas that share a
cache or threads must share it. Without it, a random key is created once in ``SWITCHYARD_HOME``
(fine for one machine; the authenticated service refuses to start without an explicit secret).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

_lock = threading.Lock()
_home_keys: dict[Path, bytes] = {}


def home_key(home: Path) -> bytes:
    """The key stored in ``home/secret.key`` (created, readable by its owner only, if missing)."""
    path = Path(home) / "secret.key"
    with _lock:
        if path in _home_keys:
            return _home_keys[path]
        try:
            key = bytes.fromhex(path.read_text().strip())
        except (FileNotFoundError, ValueError):
            path.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_bytes(32)
            tmp = path.with_name(f".secret.key.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(key.hex())
            try:
                os.link(tmp, path)  # first writer wins; a concurrent one reads the winner's key
            except FileExistsError:
                key = bytes.fromhex(path.read_text().strip())
            finally:
                tmp.unlink(missing_ok=True)
        _home_keys[path] = key
        return key


def keyed_hash(key: bytes, purpose: str, value: str, length: int = 16) -> str:
    """HMAC-SHA256 of ``value`` under ``key``, separated by ``purpose``; hex, ``length`` chars."""
    message = purpose.encode() + b"\x00" + value.encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:length]
