"""Fault injection on the knowledge index: hostile manifests, damaged files, read-only homes,
kill -9 mid-ingest, and stale cache entries after ``switchyard ingest``.

Six articles keep every rebuild cheap (``small_kb``/``kb_copy`` in ``support.knowledge_fixtures``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.faultkit import kill_at, read_only
from support.knowledge_fixtures import ingest_at, retriever_at
from typer.testing import CliRunner

from switchyard.knowledge import ingest as kb

pytestmark = pytest.mark.integration

def _manifest(index: Path) -> dict:
    return json.loads((index / kb.MANIFEST).read_text())


def _write_manifest(index: Path, manifest: dict) -> None:
    (index / kb.MANIFEST).write_text(json.dumps(manifest))


def _build(index: Path) -> Path:
    return index / "builds" / _manifest(index)["build"]


def test_manifest_build_outside_the_index_is_refused_and_rebuilt(kb_copy, tmp_path) -> None:
    articles, index = kb_copy
    # A complete, correctly hashed build planted outside the index, holding a poisoned passage.
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(_build(index), elsewhere)
    docs = json.loads((elsewhere / kb.DOCSTORE_FILE).read_text())
    docs[0]["text"] = "POISONED passage from outside SWITCHYARD_HOME"
    (elsewhere / kb.DOCSTORE_FILE).write_text(json.dumps(docs))
    manifest = _manifest(index)
    manifest["build"] = "../../../elsewhere"
    manifest["files"][kb.DOCSTORE_FILE] = kb.file_sha256(elsewhere / kb.DOCSTORE_FILE)
    _write_manifest(index, manifest)
    assert (index / "builds" / manifest["build"]).resolve() == elsewhere.resolve()

    with pytest.raises(kb.IndexIntegrityError, match="invalid build"):
        kb.load_index(index)
    retriever = retriever_at(articles, index)  # self-heals
    assert all("POISONED" not in c["text"] for c in retriever._loaded.chunks)
    assert _build(index).parent == index / "builds"
    assert (elsewhere / kb.DOCSTORE_FILE).exists()  # never touched either


def test_symlinked_build_pointing_outside_is_refused(kb_copy, tmp_path) -> None:
    _, index = kb_copy
    outside = tmp_path / "outside"
    shutil.copytree(_build(index), outside)
    manifest = _manifest(index)
    manifest["build"] = "linked"
    (index / "builds" / "linked").symlink_to(outside, target_is_directory=True)
    _write_manifest(index, manifest)
    with pytest.raises(kb.IndexIntegrityError, match="outside"):
        kb.load_index(index)


def test_truncated_index_file_triggers_a_rebuild(kb_copy) -> None:
    articles, index = kb_copy
    faiss_file = _build(index) / kb.INDEX_FILE
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    manifest = _manifest(index)  # hashes agree: the file was truncated before it was hashed
    manifest["files"][kb.INDEX_FILE] = kb.file_sha256(faiss_file)
    _write_manifest(index, manifest)

    with pytest.raises(kb.IndexIntegrityError, match="cannot be loaded"):
        kb.load_index(index)
    retriever = retriever_at(articles, index)
    assert retriever.search("how do I reset my password")
    assert kb.load_index(index) is not None


def test_damaged_index_on_a_read_only_home_says_what_to_do(kb_copy) -> None:
    articles, index = kb_copy
    (_build(index) / kb.DOCSTORE_FILE).write_text("not json")
    with read_only(index.parent), pytest.raises(kb.IndexReadOnlyError, match="read-only"):
        retriever_at(articles, index)


def test_current_index_on_a_read_only_home_loads_without_writing(kb_copy) -> None:
    articles, index = kb_copy
    with read_only(index.parent):
        report = ingest_at(articles, index)
        assert report.embedded_chunks == 0
        assert retriever_at(articles, index).search("refund annual plan")


_KILL_INGEST = """
import json, sys, time
from pathlib import Path
import numpy as np
import switchyard.encoder.embedder as emb
from switchyard.knowledge import ingest as kb

class Fake:  # random unit vectors: the crash, not the embedding, is under test
    def embed(self, texts):
        v = np.random.default_rng(0).normal(size=(len(texts), emb.EMBEDDING_DIM)).astype("f4")
        return v / np.linalg.norm(v, axis=1, keepdims=True)

marker = Path({marker!r})
point = {point!r}
committed = json.loads((Path({index!r}) / kb.MANIFEST).read_text())["build"]
original = getattr(kb, point)
calls = []
def reached(args):
    # Loading the committed index also builds a store and hashes files: skip those calls.
    calls.append(1)
    if point == "build_store":
        return len(calls) == 2
    if point == "file_sha256":
        return "builds" in str(args[0]) and committed not in str(args[0])
    return True
def stop(*args, **kwargs):
    if not reached(args):
        return original(*args, **kwargs)
    marker.touch(); time.sleep(600)
setattr(kb, point, stop)
from switchyard.core.settings import RetrievalSettings
kb.ingest(True, articles_dir=Path({articles!r}), index_dir=Path({index!r}),
          chunking=RetrievalSettings(), embed=Fake().embed)
"""


@pytest.mark.parametrize("point", ["build_store", "file_sha256", "_atomic_write_text"])
def test_kill_during_ingest_keeps_the_committed_index(kb_copy, tmp_path, point) -> None:
    """build_store: the temp build directory exists, half written; file_sha256: the new build is
    renamed into builds/, the manifest not yet swapped; _atomic_write_text: the swap itself."""
    articles, index = kb_copy
    before = _manifest(index)
    marker = tmp_path / "marker"
    builds_before = set((index / "builds").iterdir())
    kill_at(_KILL_INGEST.format(marker=str(marker), point=point, articles=str(articles),
                                index=str(index)), marker)
    assert _manifest(index) == before
    assert set((index / "builds").iterdir()) != builds_before  # the crash left something
    loaded = kb.load_index(index)
    assert loaded is not None and len(loaded.chunks) == len(json.loads(
        (_build(index) / kb.DOCSTORE_FILE).read_text()))
    report = ingest_at(articles, index)  # the next start
    assert report.embedded_chunks == 0  # nothing to redo: the old build was intact
    leftovers = [p.name for p in (index / "builds").iterdir()]
    assert leftovers == [before["build"]]
    assert not list(index.glob(".manifest.json.*.tmp"))


def test_ingest_command_drops_stale_shared_answers(kb_copy, tmp_path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from switchyard.app import Switchyard
    from switchyard.cache import CachedAnswer, Partition
    from switchyard.cli.main import app
    from switchyard.core.settings import Settings

    articles, index = kb_copy
    monkeypatch.setenv("SWITCHYARD_HOME", str(index.parent))
    monkeypatch.setenv("SWITCHYARD_ARTICLES_DIR", str(articles))
    current = _manifest(index)["kb_version"]
    settings = Settings()
    with Switchyard(settings) as sy:
        cache = sy.cache
        rng = np.random.default_rng(1)

        def put(i: int, kb_version: str, personal: bool) -> None:
            part = Partition.for_request(tenant="default", user_id="u-0001", personal=personal,
                                         key=settings.hash_key,
                                         tier="fast", prompt_version=1, toolset_version=1,
                                         kb_version=kb_version)
            vec = rng.normal(size=384).astype("f4")
            cache.store(f"question {i}", vec / np.linalg.norm(vec), part, CachedAnswer.create(
                answer=f"answer {i}", agent="fast", model="m", intent="x", complexity="low",
                original_text=f"question {i}", ttl_s=600))

        for i in range(12):
            put(i, "oldkb", personal=False)   # stale shared answers: must go
        for i in range(12, 15):
            put(i, current, personal=False)   # current shared answers: must stay
        put(15, "oldkb", personal=True)       # per-user: keyed by version, ages out by TTL
        assert cache.stats()["public"]["entries"] == 15

    out = CliRunner().invoke(app, ["ingest"])
    assert out.exit_code == 0, out.output
    assert "stale cache entries dropped" in out.output
    with Switchyard(Settings()) as sy:
        stats = sy.cache.stats()
    assert stats["public"]["entries"] == 3 and stats["user"]["entries"] == 1
