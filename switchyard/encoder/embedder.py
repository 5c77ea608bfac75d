"""Sentence embeddings from the bundled all-MiniLM-L6-v2 (384 dims), fully offline.

One embedding per request is computed once and shared by the classifier and the cache. The
encoder is the exported ONNX file run by onnxruntime (``onnx_encoder.py``): no torch at request
time. Concurrent async callers are micro-batched into one forward pass (``aembed_one``), and an
LRU keeps recent texts' vectors.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from switchyard.encoder.onnx_encoder import (
    BATCH_MAX,
    EMBED_BATCH,
    EMBEDDING_DIM,
    MAX_TOKENS,
    MODEL_NAME,
    RECIPE,
    RECIPES,
    default_vectors_id,
)

if TYPE_CHECKING:
    from switchyard.core.settings import Settings
    from switchyard.encoder.onnx_encoder import OnnxEncoder

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__all__ = ["EMBEDDING_DIM", "MAX_TOKENS", "Embedder", "LangChainEmbeddings", "default_vectors_id"]


class Embedder:
    """Thread-safe sentence embeddings with an LRU for repeated texts."""

    dim = EMBEDDING_DIM
    name = MODEL_NAME

    def __init__(self, models_dir: Path, *, threads: int = 1, lru_size: int = 4096,
                 export: bool | None = None, precision: str = RECIPE.variant) -> None:
        """Load the home's exported encoder (``models_dir``), exporting it first in a child
        process when it is missing or stale and ``export`` allows (None: when torch is
        installed); see ``store.load_or_export``. ``threads``: onnxruntime intra-op threads
        (0: its own choice, all cores). ``precision``: "int8" or "fp32" (see ``RECIPES``)."""
        from switchyard.encoder.store import load_or_export

        loaded = load_or_export(Path(models_dir), threads, export=export,
                                recipe=RECIPES[precision])
        self._encoder: OnnxEncoder = loaded.encoder
        self.provenance = loaded.describe()
        # What the classifier's heads and the knowledge index record (see vectors_id()), as the
        # export named it from the model files and recipe the encoder's key checked (the same
        # as default_vectors_id(precision); a home without the model package has only this).
        self.vectors_id = str(loaded.encoder.meta["vectors"])
        self._lru_size = lru_size
        self._lru: OrderedDict[str, np.ndarray] = OrderedDict()
        self._pending: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        self._flush_scheduled = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(settings.home / "models", threads=settings.embedding_threads,
                   lru_size=settings.embedding_lru_size,
                   precision=settings.embedding_precision)

    @property
    def threads(self) -> int:
        return self._encoder.threads

    # -- synchronous -------------------------------------------------------------------------
    def embed(self, texts: Sequence[str], batch_size: int = EMBED_BATCH) -> np.ndarray:
        """Embed many texts (n, 384), L2-normalised, in input order (batched by length)."""
        return self._encoder.embed(list(texts), batch_size)

    def embed_one(self, text: str) -> np.ndarray:
        cached = self._lru.get(text)
        if cached is not None:
            self._lru.move_to_end(text)
            return cached
        vec = self._encoder.embed_one(text)
        self._remember(text, vec)
        return vec

    def _remember(self, text: str, vec: np.ndarray) -> None:
        vec.setflags(write=False)
        self._lru[text] = vec
        if len(self._lru) > self._lru_size:
            self._lru.popitem(last=False)

    # -- asynchronous, micro-batched ---------------------------------------------------------
    async def aembed_one(self, text: str) -> np.ndarray:
        """Embed off the event loop; concurrent callers share one batched forward pass."""
        cached = self._lru.get(text)
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[np.ndarray] = loop.create_future()
        self._pending.append((text, fut))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            # Yield once so every request that is ready in this loop tick joins the batch.
            loop.call_soon(lambda: asyncio.ensure_future(self._flush()))
        return await fut

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:BATCH_MAX], self._pending[BATCH_MAX:]
                try:
                    vecs = await asyncio.to_thread(self.embed, [t for t, _ in batch])
                except Exception as exc:  # surfaced to every waiter of this batch
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (text, fut), vec in zip(batch, vecs, strict=True):
                    self._remember(text, vec)
                    if not fut.done():
                        fut.set_result(vec)
        finally:
            self._flush_scheduled = False


class LangChainEmbeddings:
    """Adapter so langchain-community's FAISS vector store can use the same model."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_one(text).tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return (await asyncio.to_thread(self.embedder.embed, texts)).tolist()

    async def aembed_query(self, text: str) -> list[float]:
        return (await self.embedder.aembed_one(text)).tolist()
