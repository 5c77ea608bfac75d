"""The embedder: traced encoder equals eager, normalised vectors, micro-batching shares one pass."""

from __future__ import annotations

import asyncio

import numpy as np

from switchyard.encoder.embedder import Embedder

TEXTS = [
    "short one",
    "How do I reset my password?",
    "webhook deliveries fail with 401 after we rotated the signing secret yesterday, please help",
]


def test_traced_encoder_matches_eager_on_padded_batches(monkeypatch, sy):
    monkeypatch.setenv("SWITCHYARD_EMBED_JIT", "0")
    eager = Embedder.from_settings(sy.settings)
    traced = sy.encoder
    a, b = eager.embed(TEXTS), traced.embed(TEXTS)
    assert a.shape == b.shape == (3, 384)
    assert np.allclose((a * b).sum(1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_text(sy):
    v = sy.encoder.embed(["I forgot my password", "how do I reset my password", "what's the weather"])
    assert v[0] @ v[1] > 0.6 > v[0] @ v[2]


def test_concurrent_async_calls_are_batched(monkeypatch, sy):
    emb = sy.encoder
    calls: list[int] = []
    original = emb.embed

    def counting(texts, batch_size=64):
        calls.append(len(texts))
        return original(texts, batch_size)

    monkeypatch.setattr(emb, "embed", counting)

    async def many():
        return await asyncio.gather(*(emb.aembed_one(f"unique question number {i}") for i in range(20)))

    vectors = asyncio.run(many())
    assert len(vectors) == 20 and all(v.shape == (384,) for v in vectors)
    assert sum(calls) == 20 and len(calls) < 20, f"expected batched forward passes, got {calls}"


def test_threads_and_lru_size_come_from_settings(monkeypatch, sy) -> None:
    import torch

    from switchyard.core.settings import Settings

    before = torch.get_num_threads()
    monkeypatch.setenv("SWITCHYARD_EMBEDDING_THREADS", "1")
    monkeypatch.setenv("SWITCHYARD_EMBEDDING_LRU_SIZE", "2")
    try:
        emb = Embedder.from_settings(Settings())
        assert torch.get_num_threads() == 1
        for text in ("first", "second", "third"):
            emb.embed_one(text)
        assert list(emb._lru) == ["second", "third"]  # the oldest vector was evicted
    finally:
        torch.set_num_threads(before)
