"""How long a model call waited for its tier's limits: the rate limit and the concurrency cap.

``collect_waits()`` opens a per-call tally (a context variable, so concurrent calls never mix);
the factory's rate limiters are wrapped in :class:`TimedRateLimiter`, which adds its wait to the
tally of the call that asked. The agents put both waits on the call's usage line, so they travel
with the request's record into metrics and logs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from langchain_core.rate_limiters import BaseRateLimiter


@dataclass
class CallWaits:
    rate_limit_s: float = 0.0
    slot_s: float = 0.0


_current: ContextVar[CallWaits | None] = ContextVar("switchyard_call_waits", default=None)


@contextlib.contextmanager
def collect_waits() -> Iterator[CallWaits]:
    """Tally the waits of the model calls made inside (in this task and the tasks it starts)."""
    waits = CallWaits()
    token = _current.set(waits)
    try:
        yield waits
    finally:
        _current.reset(token)


def _add_rate_limit_wait(seconds: float) -> None:
    waits = _current.get()
    if waits is not None:
        waits.rate_limit_s += seconds


class TimedRateLimiter(BaseRateLimiter):
    """A rate limiter that reports how long each acquire waited; otherwise the one it wraps."""

    def __init__(self, inner: BaseRateLimiter) -> None:
        self.inner = inner

    def acquire(self, *, blocking: bool = True) -> bool:
        start = time.perf_counter()
        try:
            return self.inner.acquire(blocking=blocking)
        finally:
            _add_rate_limit_wait(time.perf_counter() - start)

    async def aacquire(self, *, blocking: bool = True) -> bool:
        start = time.perf_counter()
        try:
            return await self.inner.aacquire(blocking=blocking)
        finally:
            _add_rate_limit_wait(time.perf_counter() - start)

    def __getattr__(self, name: str) -> Any:  # requests_per_second, max_bucket_size, ...
        return getattr(self.inner, name)
