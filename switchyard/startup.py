"""Load everything a request uses *before* it starts, so ``latency_ms`` is the request's own time.

A new CLI process must import torch, load the encoder, the classifier, the cache and the knowledge
index. Done lazily inside the first request, that start-up (seconds) was reported as the
request's latency; a cache hit answered in milliseconds showed "3122 ms". The CLI calls
``prepare()`` first and reports the start-up separately (``startup_ms``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Startup:
    ms: float  # wall time from process start (or the call) until ready to route
    ready: dict[str, Any] = field(default_factory=dict)  # ensure_ready()'s report


def _process_age_ms() -> float | None:
    """Milliseconds since this process started (Linux), so imports count as start-up too."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            started_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime_s = float(fh.read().split()[0])
        return max(0.0, (uptime_s - started_ticks / os.sysconf("SC_CLK_TCK")) * 1000.0)
    except (OSError, ValueError, IndexError):
        return None


def prepare(*, one_request_at_a_time: bool = True) -> Startup:
    """Build what is missing, then load every per-process dependency of the graph.

    ``one_request_at_a_time`` (the CLI's ``ask`` and ``demo``): once the index is built, torch
    keeps one intra-op thread unless ``SWITCHYARD_EMBEDDING_THREADS`` says otherwise. A request's
    single short text gains nothing from a second thread, and on a shared, busy CPU the threads'
    synchronisation stalled the first embedding for 0.5-2.4 s instead of 20-30 ms (measured at
    load average 12 on 2 cores).
    """
    from switchyard.embeddings import get_embedder
    from switchyard.runner import default_graph, ensure_ready

    started = time.perf_counter()
    ready = ensure_ready()  # database, knowledge index (batch embedding), classifier, cache
    get_embedder()
    if one_request_at_a_time and not os.environ.get("SWITCHYARD_EMBEDDING_THREADS"):
        import torch

        torch.set_num_threads(1)
    default_graph()  # the dependencies (encoder, classifier, index, cache) and compiled graph

    age = _process_age_ms()
    ms = age if age is not None else (time.perf_counter() - started) * 1000.0
    return Startup(ms=round(ms, 1), ready=ready)
