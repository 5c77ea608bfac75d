"""The embedder: torch's vectors without torch, normalised, micro-batched, configured by settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from switchyard.encoder.embedder import Embedder
from switchyard.encoder.onnx_encoder import bundled_model_dir, load_tokenizer

TEXTS = [
    "short one",
    "How do I reset my password?",
    "webhook deliveries fail with 401 after we rotated the signing secret yesterday, please help",
    "",
    # Past the 128 tokens the package's tokenizer.json itself truncates at (the model takes 256).
    "Our nightly CSV import of invoices stopped working after the upgrade. " * 20,
]


def _reference() -> np.ndarray:
    """sentence-transformers on torch, run here in the test process."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(bundled_model_dir()), device="cpu").encode(
        [t or " " for t in TEXTS], normalize_embeddings=True, convert_to_numpy=True)


def test_the_int8_encoder_keeps_sentence_transformers_vectors(sy) -> None:
    """The shipped (int8) encoder: within the export's check of torch's vectors."""
    ours = sy.encoder.embed(TEXTS)
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * _reference()).sum(axis=1)
    assert cosines.min() > 0.998, cosines
    # The long text is not cut at 128 tokens (the tokenizer file's own limit): 256 go in.
    tokenizer = load_tokenizer(bundled_model_dir() / "tokenizer.json")
    assert len(tokenizer.encode(TEXTS[-1]).ids) == 256


@pytest.mark.integration
def test_fp32_precision_gives_torchs_vectors_exactly(tmp_path: Path) -> None:
    """SWITCHYARD_EMBEDDING_PRECISION=fp32: a file of its own, and torch's vectors to rounding,
    the long text included (its vector differs from its first 128 tokens')."""
    from sentence_transformers import SentenceTransformer

    fp32 = Embedder(tmp_path / "models", precision="fp32", lru_size=0)
    assert "ONNX fp32" in fp32.provenance and "/fp32/" in fp32.vectors_id
    ours = fp32.embed(TEXTS)
    cosines = (ours * _reference()).sum(axis=1)
    assert cosines.min() > 0.99999, cosines
    cut = SentenceTransformer(str(bundled_model_dir()), device="cpu")
    cut.max_seq_length = 128
    first_128 = cut.encode([TEXTS[-1]], normalize_embeddings=True)[0]
    assert float(ours[-1] @ first_128) < 0.9999


def test_one_text_alone_equals_the_same_text_in_a_padded_batch(sy) -> None:
    texts = [("word " * (i % 40)) + f"item {i}" for i in range(150)]  # > one batch of 64
    batch = sy.encoder.embed(texts)
    for i in (0, 37, 149):
        assert np.allclose(batch[i], sy.encoder._encoder.embed_one(texts[i]), atol=1e-6)
    assert np.array_equal(sy.encoder.embed([]), np.zeros((0, 384), np.float32))


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
    from switchyard.core.settings import Settings

    assert Embedder.from_settings(Settings()).threads == 1  # the default: one intra-op thread
    monkeypatch.setenv("SWITCHYARD_EMBEDDING_THREADS", "2")
    monkeypatch.setenv("SWITCHYARD_EMBEDDING_LRU_SIZE", "2")
    emb = Embedder.from_settings(Settings())
    assert emb.threads == 2
    assert emb._encoder._session.get_session_options().intra_op_num_threads == 2
    for text in ("first", "second", "third"):
        emb.embed_one(text)
    assert list(emb._lru) == ["second", "third"]  # the oldest vector was evicted


def test_batch_commands_embed_on_every_core_and_requests_on_one(monkeypatch, sy) -> None:
    """classify / route train open the front door for a batch (every core, or
    SWITCHYARD_EMBEDDING_BATCH_THREADS); a request keeps SWITCHYARD_EMBEDDING_THREADS."""
    from switchyard.app import Switchyard
    from switchyard.core.settings import Settings

    settings = Settings()
    assert settings.embedding_threads == 1 and settings.for_batch().embedding_threads == 0
    monkeypatch.setenv("SWITCHYARD_EMBEDDING_BATCH_THREADS", "2")
    batch = Switchyard.for_batch()
    assert batch.settings.embedding_threads == 2 and batch.encoder.threads == 2
    assert "2 intra-op thread(s)" in batch.encoder.provenance
    assert Switchyard().settings.embedding_threads == 1


_HUGE_TEXT_PROBE = """
import resource, sys
from switchyard.encoder.embedder import Embedder
from switchyard.core.settings import Settings
e = Embedder.from_settings(Settings())
e.embed(["warm up"])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
e.embed(["word " * 3_000_000, "warm up"])  # 15 MB
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_a_huge_text_is_cut_before_it_is_tokenized(sy) -> None:
    """A hostile sweep: tokenizing a 5 MB outcome text took 1.7 GB to keep 256 tokens of it, and
    a 15 MB one aborted the process. The cut is above the service's max_input_chars, so no
    request the service takes is ever cut, and a huge text embeds as its first MAX_CHARS."""
    import subprocess
    import sys

    from switchyard.core.settings import Settings
    from switchyard.encoder.onnx_encoder import MAX_CHARS

    assert Settings().max_input_chars < MAX_CHARS
    huge = "invoice export question " * 500_000
    assert np.array_equal(sy.encoder.embed([huge])[0], sy.encoder.embed([huge[:MAX_CHARS]])[0])
    grown = subprocess.run([sys.executable, "-c", _HUGE_TEXT_PROBE], capture_output=True,
                           text=True, timeout=300, check=True)
    assert int(grown.stdout.split()[-1]) < 300, grown.stdout  # MiB; 2,251 before the cut


def test_an_unpaired_surrogate_embeds_as_the_replacement_character(sy) -> None:
    # Valid JSON ("\ud800") but no UTF-8: the tokenizer raised a TypeError on it, which ended
    # whole batch commands (cache calibrate, plan, eval) at the first such line.
    got = sy.encoder.embed(["bad \ud800 text", "fine"])
    assert np.allclose(got[0], sy.encoder.embed(["bad \ufffd text"])[0], atol=1e-6)
    assert np.allclose(sy.encoder._encoder.embed_one("x\udfff"), sy.encoder.embed(["x\ufffd"])[0],
                       atol=1e-6)
