"""Request classifier: complexity, intent, scope and the recommended agent tier.

``get_classifier()`` returns the configured one (``settings.classifier.mode``): ``local``
(embeddings + linear heads, $0, sub-millisecond after the embedding), ``llm`` (the article's
structured-output call on the fast tier's model) or ``cascade`` (local, then LLM below the
confidence threshold). All expose ``classify(text, *, embedding=None, history=None)`` and
``aclassify(...)``; pass the embedding you already computed so it is shared with the cache.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from switchyard.classifier.schema import Classification, LLMVerdict
from switchyard.settings import get_settings

log = logging.getLogger(__name__)

__all__ = ["Classification", "Classifier", "LLMVerdict", "get_classifier", "reset_classifier"]


class Classifier(Protocol):
    name: str

    def classify(
        self, text: str, *, embedding: np.ndarray | None = None, history: list[str] | None = None
    ) -> Classification: ...

    async def aclassify(
        self, text: str, *, embedding: np.ndarray | None = None, history: list[str] | None = None
    ) -> Classification: ...

    def classify_many(
        self, texts: Sequence[str], histories: Sequence[list[str] | None] | None = None
    ) -> list[Classification]: ...


_lock = threading.Lock()
_instance: Classifier | None = None


def _in_event_loop() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def get_classifier() -> Classifier:
    """Process-wide classifier for the configured mode (LLM modes need an API key; offline they
    fall back to the local classifier and say so in the log).

    Outside an event loop (CLI, ``ensure_ready``) the fitted model is loaded, or fitted, right
    away; inside one it is loaded lazily by ``aclassify`` in a worker thread, so an async graph
    node never blocks the loop.
    """
    global _instance
    with _lock:
        if _instance is not None:
            return _instance
        from switchyard.classifier.local import LocalClassifier

        s = get_settings()
        mode = s.classifier.mode
        if mode in ("llm", "cascade") and s.use_offline_model:
            log.warning("classifier mode %r needs an LLM; running offline, using the local classifier", mode)
            mode = "local"
        if mode == "llm":
            from switchyard.classifier.llm import LLMClassifier

            _instance = LLMClassifier()
        elif mode == "cascade":
            from switchyard.classifier.cascade import CascadeClassifier

            _instance = CascadeClassifier()
        else:
            _instance = LocalClassifier()
        if not _in_event_loop():
            from switchyard.classifier.local import load_or_fit

            load_or_fit()
        return _instance


def reset_classifier() -> None:
    """Forget the process-wide classifier and fitted model (after retraining or settings changes)."""
    global _instance
    from switchyard.classifier.local import reset_cache

    with _lock:
        _instance = None
    reset_cache()
