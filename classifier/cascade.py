"""Cascade: the local classifier first; the LLM only when local confidence is below the threshold.

Most requests never reach the LLM, so the average classifier cost stays near $0 while the hard,
ambiguous ones get a second opinion. If the LLM call fails or misses its deadline (its own short
timeout, ``classifier.llm_timeout_s``, and at most one retry), the local verdict stands.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import numpy as np

from switchyard.classifier.llm import LLMClassifier
from switchyard.classifier.local import LocalClassifier
from switchyard.classifier.schema import Classification

log = logging.getLogger(__name__)


class CascadeClassifier:
    name = "cascade"

    def __init__(self, local: LocalClassifier, llm: LLMClassifier, threshold: float) -> None:
        self.local = local
        self.llm = llm
        self.threshold = threshold
        # Whole-call deadline, however the LLM classifier's model was built (an injected test
        # double has no SDK timeout of its own).
        self.llm_deadline_s = getattr(self.llm, "deadline_s", 17.0)

    def _merge(self, first: Classification, second: Classification | None, t0: float) -> Classification:
        if second is None:
            out = first.model_copy(update={"classifier": "cascade:local"})
        else:
            out = second.model_copy(
                update={
                    "classifier": "cascade:llm",
                    "follow_up": first.follow_up,
                    "reasoning": f"{second.reasoning} (local was {first.complexity} at {first.confidence:.2f})",
                }
            )
        out.latency_ms = (time.perf_counter() - t0) * 1000
        return out

    def classify(
        self, text: str, *, embedding: np.ndarray | None = None, history: list[str] | None = None
    ) -> Classification:
        t0 = time.perf_counter()
        first = self.local.classify(text, embedding=embedding, history=history)
        second = None
        if first.confidence < self.threshold:
            try:
                second = self.llm.classify(text, history=history)
            except Exception as exc:  # the local verdict is a fine fallback
                log.warning("cascade LLM classifier failed, keeping local verdict: %s", exc)
        return self._merge(first, second, t0)

    async def aclassify(
        self, text: str, *, embedding: np.ndarray | None = None, history: list[str] | None = None
    ) -> Classification:
        t0 = time.perf_counter()
        first = await self.local.aclassify(text, embedding=embedding, history=history)
        second = None
        if first.confidence < self.threshold:
            try:
                second = await asyncio.wait_for(self.llm.aclassify(text, history=history),
                                                self.llm_deadline_s)
            except TimeoutError:
                log.warning("cascade LLM classifier gave no verdict within %.0f s, keeping the "
                            "local one", self.llm_deadline_s)
            except Exception as exc:
                log.warning("cascade LLM classifier failed, keeping local verdict: %s", exc)
        return self._merge(first, second, t0)

    def classify_many(
        self, texts: Sequence[str], histories: Sequence[list[str] | None] | None = None
    ) -> list[Classification]:
        """Local verdicts in one batch; the LLM only for the low-confidence ones."""
        t0 = time.perf_counter()
        histories = histories or [None] * len(texts)
        out: list[Classification] = []
        for text, hist, first in zip(texts, histories, self.local.classify_many(texts, histories), strict=True):
            second = None
            if first.confidence < self.threshold:
                try:
                    second = self.llm.classify(text, history=hist)
                except Exception as exc:
                    log.warning("cascade LLM classifier failed, keeping local verdict: %s", exc)
            merged = self._merge(first, second, t0)
            merged.latency_ms = first.latency_ms + (second.latency_ms if second else 0.0)
            out.append(merged)
        return out
