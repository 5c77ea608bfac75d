"""Request classifier: complexity, intent, scope and the recommended agent tier.

``build_classifier(settings, embedder, models)`` returns the configured one
(``settings.classifier.mode``): ``local`` (embeddings + linear heads, $0, sub-millisecond after the
embedding), ``llm`` (the article's structured-output call on the fast tier's model) or ``cascade``
(local, then LLM below the confidence threshold). All expose ``classify(text, *, embedding=None,
history=None)`` and ``aclassify(...)``; pass the embedding you already computed so it is shared
with the cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from switchyard.classifier.schema import Classification, LLMVerdict

if TYPE_CHECKING:
    from switchyard.core.settings import Settings
    from switchyard.encoder.embedder import Embedder
    from switchyard.llm.factory import ModelFactory

log = logging.getLogger(__name__)

__all__ = ["Classification", "Classifier", "LLMVerdict", "build_classifier"]


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


def build_classifier(settings: Settings, embedder: Embedder,
                     models: Callable[[], ModelFactory]) -> Classifier:
    """The classifier for ``settings.classifier.mode``, its local model loaded (or fitted) now.

    The LLM modes need a model (``models`` gives the factory, built only for them); offline
    they fall back to the local classifier and say so."""
    from switchyard.classifier.local import LocalClassifier

    local = LocalClassifier(settings, embedder)
    local.model  # noqa: B018 - load or fit now, not on the first request
    mode = settings.classifier.mode
    if mode in ("llm", "cascade") and settings.use_offline_model:
        log.warning("classifier mode %r needs an LLM; running offline, using the local classifier",
                    mode)
        return local
    if mode == "llm":
        from switchyard.classifier.llm import LLMClassifier

        return LLMClassifier(models())
    if mode == "cascade":
        from switchyard.classifier.cascade import CascadeClassifier
        from switchyard.classifier.llm import LLMClassifier

        return CascadeClassifier(local, LLMClassifier(models()),
                                 settings.classifier.cascade_threshold)
    return local
