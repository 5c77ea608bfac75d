"""A small knowledge base (six real articles) built once per session; tests mutate copies.

Full rebuilds of six articles stay cheap, so ingest, integrity and fault tests share this.
"""

from __future__ import annotations

import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from switchyard.core.pack import default_pack_dir
from switchyard.core.settings import Settings
from switchyard.encoder.embedder import Embedder
from switchyard.knowledge import ingest as kb
from switchyard.knowledge.retriever import Retriever

ARTICLES = default_pack_dir() / "articles"
SMALL_KB = ["resetting-your-password", "refund-policy", "webhooks-setup-and-signatures",
            "api-rate-limits", "plans-and-pricing", "data-import-csv"]


@lru_cache(maxsize=1)
def encoder() -> Embedder:
    """The session's encoder (its home's saved model), for indexes built outside a switchyard."""
    return Embedder.from_settings(Settings())


def ingest_at(articles: Path, index: Path, force: bool = False, **kw: Any) -> kb.IngestReport:
    """``switchyard ingest`` on these folders, with the default chunking."""
    return kb.ingest(force, articles_dir=articles, index_dir=index,
                     chunking=Settings().retrieval, embed=encoder().embed, **kw)


def retriever_at(articles: Path, index: Path) -> Retriever:
    """A retriever over the index in ``index`` (built from ``articles`` if missing or refused).

    The index of a switchyard home is ``<home>/index``, so ``index`` must be named that."""
    assert index.name == "index", f"{index}: an index lives at <home>/index"
    settings = Settings(home=index.parent, articles_dir=articles)
    assert settings.index_dir == index
    return Retriever(settings, encoder())


def articles_version(articles: Path) -> str:
    """The kb_version an ingest of ``articles`` records."""
    return kb.compute_kb_version({a.id: a.sha256 for a in kb.load_articles(articles)})


@pytest.fixture(scope="session")
def small_kb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(articles dir, index dir) of a built index over :data:`SMALL_KB`; copy before mutating."""
    base = tmp_path_factory.mktemp("small-kb")
    articles, index = base / "articles", base / "index"
    articles.mkdir()
    for slug in SMALL_KB:
        shutil.copy(ARTICLES / f"{slug}.md", articles)
    ingest_at(articles, index)
    return articles, index


@pytest.fixture
def kb_copy(small_kb: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of :func:`small_kb`, the index in a directory of its own."""
    articles, index = tmp_path / "articles", tmp_path / "kb" / "index"
    shutil.copytree(small_kb[0], articles)
    shutil.copytree(small_kb[1], index)
    return articles, index
