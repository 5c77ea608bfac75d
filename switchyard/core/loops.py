"""One object per running event loop.

Async primitives (semaphores, connection pools, LISTEN connections) belong to the event loop that
made them, while switchyard's collaborators are built once and used from several loops (a CLI
``asyncio.run`` per command, a test per loop, a service's loop). :class:`PerLoop` keeps one object
per running loop and forgets those of loops that have closed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """``get()`` returns the running loop's object, made by ``make`` on first use there.

    ``usable(obj)`` (default: always) says whether a loop's object may still be used; one that
    may not (a pool whose opening failed) is made again."""

    def __init__(self, make: Callable[[], T], usable: Callable[[T], bool] | None = None) -> None:
        self._make = make
        self._usable = usable
        self._objects: dict[asyncio.AbstractEventLoop, T] = {}
        self._lock = threading.Lock()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        with self._lock:
            obj = self._objects.get(loop)
            if obj is not None and self._usable is not None and not self._usable(obj):
                obj = None
            if obj is None:
                for old in [lp for lp in self._objects if lp.is_closed()]:
                    del self._objects[old]
                obj = self._objects[loop] = self._make()
            return obj

    def pop(self) -> T | None:
        """Forget (and return) the running loop's object, to close it."""
        loop = asyncio.get_running_loop()
        with self._lock:
            return self._objects.pop(loop, None)

    def __len__(self) -> int:
        return len(self._objects)
