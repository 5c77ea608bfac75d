"""Personal data at rest: authenticated encryption (AES-256-GCM) under keys derived from the
deployment secret.

One secret (``SWITCHYARD_SECRET``, else the home's ``secret.key``: ``settings.hash_key``) yields a
separate key per purpose through HKDF-SHA256, so the cache's texts, its exact-match keys and the
conversation checkpoints never share a key, and none of them is the key of the user-id hashes.

- :class:`Seal` encrypts text for one purpose (``seal``/``open``); a sealed value is
  ``sy1:`` + base64url(nonce || ciphertext || tag). A value without the prefix was written
  before encryption existed and is returned as it is, so old stores still open.
- :meth:`Seal.digest` is a keyed hash (HMAC-SHA256) for exact-match keys: equal texts give equal
  digests, and nobody without the secret can test a guess against them.
- :class:`CheckpointCipher` is the cipher LangGraph's ``EncryptedSerializer`` calls for
  checkpoints (SQLite and PostgreSQL alike).

A value sealed under another secret cannot be opened: :class:`SealError` says so in words
(authenticated encryption detects it; nothing is silently misread).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEALED_PREFIX = "sy1:"
_NONCE_BYTES = 12
_SALT = b"switchyard-at-rest-v1"
CIPHER_NAME = "aesgcm"


class SealError(Exception):
    """A sealed value could not be opened: written under another secret, or damaged."""


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 256-bit key for ``purpose`` from the deployment secret (HKDF-SHA256)."""
    return _derive(bytes(secret), purpose)


@lru_cache(maxsize=64)
def _derive(secret: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT,
                info=purpose.encode()).derive(secret)


def _unsealable(purpose: str) -> SealError:
    return SealError(
        f"stored {purpose} data cannot be decrypted: it was written under another deployment "
        "secret (SWITCHYARD_SECRET, or SWITCHYARD_HOME/secret.key) or it is damaged. Restore the "
        "secret it was written with, or delete that data (switchyard forget, switchyard cache "
        "clear, switchyard threads prune).")


class Seal:
    """Encrypt and key-hash values for one purpose."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        self.purpose = purpose
        self._aead = AESGCM(derive_key(secret, f"{purpose}/encrypt"))
        self._mac_key = derive_key(secret, f"{purpose}/digest")
        self._aad = purpose.encode()

    def seal_bytes(self, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, self._aad)

    def open_bytes(self, blob: bytes) -> bytes:
        if len(blob) < _NONCE_BYTES + 16:
            raise _unsealable(self.purpose)
        try:
            return self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], self._aad)
        except InvalidTag as exc:
            raise _unsealable(self.purpose) from exc

    def seal(self, text: str) -> str:
        return SEALED_PREFIX + base64.urlsafe_b64encode(
            self.seal_bytes(text.encode("utf-8"))).decode("ascii")

    def open(self, value: str) -> str:
        """The plain text of a sealed value; a value stored in clear (no prefix) as it is."""
        if not is_sealed(value):
            return value
        try:
            blob = base64.urlsafe_b64decode(value[len(SEALED_PREFIX):])
        except ValueError as exc:
            raise _unsealable(self.purpose) from exc
        return self.open_bytes(blob).decode("utf-8")

    def digest(self, text: str) -> str:
        return hmac.new(self._mac_key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


class CheckpointCipher:
    """LangGraph's ``CipherProtocol`` over AES-GCM, for ``EncryptedSerializer``."""

    def __init__(self, secret: bytes) -> None:
        self._seal = Seal(secret, "checkpoints")

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        return CIPHER_NAME, self._seal.seal_bytes(plaintext)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        if ciphername != CIPHER_NAME:
            raise SealError(f"a checkpoint is encrypted with {ciphername!r}, which this version "
                            f"does not read (it writes {CIPHER_NAME!r}).")
        return self._seal.open_bytes(ciphertext)
