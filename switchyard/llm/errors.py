"""Classify model-call failures so the graph can react: trim and retry, or fall back to another tier.

Providers word these errors differently; the checks use their machine-readable codes first
(llama.cpp's ``exceed_context_size_error``, OpenAI's ``context_length_exceeded``) and a few known
message fragments only for servers that send no code (vLLM, older gateways).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import openai


class _NeverRaised(Exception):
    """Matches no error: what the openai SDK's error classes are while the SDK is not loaded."""


class _NoSdk:
    APIStatusError = APIConnectionError = APITimeoutError = RateLimitError = _NeverRaised


def _openai_errors() -> Any:
    """The openai SDK if this process loaded it, else :class:`_NoSdk`: without the SDK loaded
    no openai error can exist, and importing it just to say so would cost a cache hit ~0.8 s of
    start-up."""
    return sys.modules.get("openai") or _NoSdk

_OVERFLOW_CODES = frozenset({"exceed_context_size_error", "context_length_exceeded"})
_OVERFLOW_FRAGMENTS = (
    "maximum context length",
    "context length exceeded",
    "exceeds the available context size",
    "exceed_context_size",
    "prompt is too long",
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and those it wraps (LangChain and retry helpers re-raise with a cause)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _error_fields(exc: openai.APIStatusError) -> set[str]:
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    return {str(v) for v in (exc.code, inner.get("code"), inner.get("type")) if v is not None}


def is_context_overflow(exc: BaseException) -> bool:
    """True when a request failed because its prompt (plus output budget) exceeds the context."""
    openai = _openai_errors()
    for err in _chain(exc):
        if isinstance(err, openai.APIStatusError) and err.status_code in (400, 413):
            if _error_fields(err) & _OVERFLOW_CODES:
                return True
            message = str(err).lower()
            if any(fragment in message for fragment in _OVERFLOW_FRAGMENTS):
                return True
    return False


def is_unreachable(exc: BaseException) -> bool:
    """True when the model server could not be reached or dropped the connection (stopped,
    crashed, wrong port) or timed out: a reason to fall back to another tier rather than to retry here."""
    openai = _openai_errors()
    return any(
        isinstance(err, openai.APIConnectionError | httpx.ConnectError | httpx.RemoteProtocolError
                   | ConnectionError)
        for err in _chain(exc)
    )


# Why a tier failed, as a small fixed vocabulary (a metrics label and a log field, never text).
FAILURE_KINDS = ("timeout", "unreachable", "rate_limited", "context_overflow", "unusable_answer",
                 "provider_error", "error")


def failure_kind(exc: BaseException) -> str:
    """One of :data:`FAILURE_KINDS` for a tier's failure."""
    if is_context_overflow(exc):
        return "context_overflow"
    openai = _openai_errors()
    for err in _chain(exc):
        if isinstance(err, TimeoutError | openai.APITimeoutError | httpx.TimeoutException):
            return "timeout"
    if is_unreachable(exc):
        return "unreachable"
    for err in _chain(exc):
        if isinstance(err, openai.RateLimitError):
            return "rate_limited"
        if type(err).__name__ == "UnusableAnswer":  # agents' own error; agents import this layer
            return "unusable_answer"
        if isinstance(err, openai.APIStatusError):
            return "provider_error"
    return "error"
