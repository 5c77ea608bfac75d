"""Ingestion, integrity checks and search on real (offline) embeddings.

Mutation tests work on a copy of six articles so full rebuilds stay cheap; the recall test
builds the full index once per module.
"""

from __future__ import annotations

import asyncio
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from support.knowledge_fixtures import SMALL_KB as SMALL
from support.knowledge_fixtures import articles_version, ingest_at, retriever_at

from switchyard.core.domain import active_pack
from switchyard.knowledge import ingest as kb
from switchyard.knowledge.retriever import (
    MAX_PER_ARTICLE,
    Retriever,
    evaluate_retrieval,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def full_retriever(sy) -> Retriever:
    # The session switchyard's retriever over its SWITCHYARD_HOME: other test modules that
    # retrieve (agents, graph) reuse this build instead of embedding the corpus again.
    return sy.retriever


def _manifest(index: Path) -> dict:
    return json.loads((index / kb.MANIFEST).read_text())


def _build_dir(index: Path) -> Path:
    return index / "builds" / _manifest(index)["build"]


def test_first_ingest_writes_manifest_with_hashes(kb_copy: tuple[Path, Path]) -> None:
    articles, index = kb_copy
    manifest = _manifest(index)
    assert set(manifest["articles"]) == set(SMALL)
    assert manifest["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    build = _build_dir(index)
    assert {p.name for p in build.iterdir()} == set(kb.BUILD_FILES)  # no pickle file at all
    for name, sha in manifest["files"].items():
        assert kb.file_sha256(build / name) == sha
    assert manifest["kb_version"] == articles_version(articles)
    chunk_ids = [c for a in manifest["articles"].values() for c in a["chunks"]]
    assert len(chunk_ids) == len(set(chunk_ids)) > len(SMALL)


def test_second_ingest_is_a_no_op(kb_copy: tuple[Path, Path]) -> None:
    articles, index = kb_copy
    before = _manifest(index)
    mtime = (index / kb.MANIFEST).stat().st_mtime_ns
    report = ingest_at(articles, index)
    assert report.kb_version == before["kb_version"]
    assert (report.added, report.changed, report.removed) == ([], [], [])
    assert report.unchanged == len(SMALL) and report.embedded_chunks == 0
    assert (index / kb.MANIFEST).stat().st_mtime_ns == mtime
    assert _manifest(index) == before


def test_editing_one_article_reembeds_only_it(kb_copy: tuple[Path, Path]) -> None:
    articles, index = kb_copy
    before = _manifest(index)
    old = kb.load_index(index)
    assert old is not None
    path = articles / "refund-policy.md"
    path.write_text(path.read_text() + "\n## Gift cards\n\nGift cards are never refundable.\n")

    report = ingest_at(articles, index)

    assert report.changed == ["refund-policy"]
    assert report.unchanged == len(SMALL) - 1
    assert report.kb_version != before["kb_version"]
    new = kb.load_index(index)
    assert new is not None
    assert report.embedded_chunks == len(new.manifest["articles"]["refund-policy"]["chunks"])
    # Vectors of untouched articles were reused, not recomputed.
    old_vecs = {c["metadata"]["chunk_id"]: v for c, v in zip(old.chunks, old.vectors, strict=True)}
    for chunk, vec in zip(new.chunks, new.vectors, strict=True):
        if chunk["metadata"]["source"] != "refund-policy":
            np.testing.assert_array_equal(vec, old_vecs[chunk["metadata"]["chunk_id"]])
    assert _manifest(index)["kb_version"] == report.kb_version
    assert len(list((index / "builds").iterdir())) == 1  # the old build was cleaned up


def test_deleting_an_article_removes_its_chunks(kb_copy: tuple[Path, Path]) -> None:
    articles, index = kb_copy
    version = _manifest(index)["kb_version"]
    (articles / "api-rate-limits.md").unlink()
    report = ingest_at(articles, index)
    assert report.removed == ["api-rate-limits"] and report.embedded_chunks == 0
    assert report.kb_version != version
    loaded = kb.load_index(index)
    assert loaded is not None
    assert all(c["metadata"]["source"] != "api-rate-limits" for c in loaded.chunks)
    assert loaded.store.index.ntotal == len(loaded.chunks)
    hits = retriever_at(articles, index).search("QS-429 rate limit", k=4)
    assert all(p.source != "api-rate-limits" for p in hits)


def test_tampered_index_is_refused_without_unpickling_and_rebuilt(
    kb_copy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    articles, index = kb_copy
    faiss_file = _build_dir(index) / kb.INDEX_FILE
    data = bytearray(faiss_file.read_bytes())
    data[-8:] = b"\x00" * 8
    faiss_file.write_bytes(bytes(data))

    def no_pickle(*_a: object, **_k: object) -> None:
        raise AssertionError("the index must never be unpickled")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    with pytest.raises(kb.IndexIntegrityError, match="refusing to load"):
        kb.load_index(index)

    retriever = retriever_at(articles, index)  # refuses, then rebuilds
    assert retriever.search("how long is the password reset link valid", k=1)
    assert kb.load_index(index) is not None

    report = ingest_at(articles, index)
    assert report.embedded_chunks == 0  # the rebuilt index verifies again


def test_tampered_docstore_is_refused(kb_copy: tuple[Path, Path]) -> None:
    articles, index = kb_copy
    docstore = _build_dir(index) / kb.DOCSTORE_FILE
    docstore.write_text(docstore.read_text().replace("30 minutes", "30 days"))
    with pytest.raises(kb.IndexIntegrityError):
        kb.load_index(index)
    report = ingest_at(articles, index)
    assert report.rebuilt and "refused" in report.note


def test_crash_during_commit_keeps_previous_index(
    kb_copy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import faiss

    articles, index = kb_copy
    before = _manifest(index)
    (articles / "refund-policy.md").write_text(
        (articles / "refund-policy.md").read_text() + "\nOne more line.\n"
    )

    def boom(*_a: object, **_k: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(faiss, "write_index", boom)
    with pytest.raises(OSError, match="disk full"):
        ingest_at(articles, index)
    assert _manifest(index) == before
    assert kb.load_index(index) is not None
    assert [p.name for p in (index / "builds").iterdir()] == [before["build"]]


def test_bad_front_matter_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "broken.md").write_text("---\ntitle: Only a title\n---\n\nBody.\n")
    with pytest.raises(kb.ArticleError, match="category"):
        kb.load_articles(tmp_path)


def test_search_returns_scored_sources_and_respects_k_and_cap(
    full_retriever: Retriever,
) -> None:
    passages = full_retriever.search("my webhook signature verification fails", k=6)
    assert 1 <= len(passages) <= 6
    assert passages[0].source == "webhooks-setup-and-signatures"
    scores = [p.score for p in passages]
    assert all(0.25 <= s <= 1.0 for s in scores)
    for p in passages:
        assert p.url == f"https://help.quillstack.example/articles/{p.source}"
        assert p.chunk_id.startswith(f"{p.source}#") and p.title and p.text
    counts: dict[str, int] = {}
    for p in passages:
        counts[p.source] = counts.get(p.source, 0) + 1
    assert max(counts.values()) <= MAX_PER_ARTICLE
    assert len(full_retriever.search("refund for annual plan", k=1)) == 1
    assert full_retriever.search("refund", k=0) == []


def test_precomputed_embedding_and_async(full_retriever: Retriever) -> None:
    question = "how many password reset emails can I request per hour"
    vec = full_retriever.embedder.embed_one(question)
    direct = full_retriever.search(question, k=3)
    shared = full_retriever.search(question, k=3, embedding=vec)
    assert [p.chunk_id for p in direct] == [p.chunk_id for p in shared]
    assert direct[0].source == "resetting-your-password"
    via_async = asyncio.run(full_retriever.asearch(question, k=3, embedding=vec))
    assert [p.chunk_id for p in via_async] == [p.chunk_id for p in direct]


def test_min_score_drops_unrelated_text(
    full_retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(full_retriever.settings.retrieval, "min_score", 0.9)
    assert full_retriever.search("recipe for banana bread with walnuts", k=4) == []


def test_recall_at_4_meets_target(full_retriever: Retriever) -> None:
    result = evaluate_retrieval(full_retriever, active_pack().data_file("retrieval_eval"), k=4)
    assert result.questions >= 160
    assert result.recall_at_k >= 0.90, result.misses
    assert result.mrr >= 0.75


def test_retriever_picks_up_a_new_index_and_kb_version_follows(
    kb_copy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from switchyard.knowledge import retriever as retriever_mod

    articles, index = kb_copy
    retriever = retriever_at(articles, index)
    served = retriever.kb_version
    assert _manifest(index)["kb_version"] == served
    (articles / "api-rate-limits.md").unlink()
    report = ingest_at(articles, index)  # as another process would
    assert report.kb_version != served

    monkeypatch.setattr(retriever_mod, "_RELOAD_CHECK_S", 0.0)
    hits = retriever.search("QS-429 too many requests", k=4)
    assert retriever.kb_version == report.kb_version
    assert all(p.source != "api-rate-limits" for p in hits)
    assert _manifest(index)["kb_version"] == report.kb_version


def test_an_index_built_with_other_vectors_is_rebuilt(kb_copy: tuple[Path, Path]) -> None:
    """The manifest records the encoder's vectors: another encoder's (or none recorded, as before
    the ONNX encoder) are re-embedded, never mixed with this encoder's query vectors."""
    from switchyard.encoder.onnx_encoder import default_vectors_id

    articles, index = kb_copy
    manifest = _manifest(index)
    assert manifest["encoder"] == default_vectors_id()
    for stale in ("all-MiniLM-L6-v2/int8/000000000000", None):
        edited = {k: v for k, v in {**manifest, "encoder": stale}.items() if v is not None}
        (index / kb.MANIFEST).write_text(json.dumps(edited))
        report = ingest_at(articles, index)
        assert report.rebuilt and report.embedded_chunks == report.chunks > 0
        assert _manifest(index)["encoder"] == default_vectors_id()
    assert ingest_at(articles, index).embedded_chunks == 0  # and then it is current
