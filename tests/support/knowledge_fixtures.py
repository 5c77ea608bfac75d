"""A small knowledge base (six real articles) built once per session; tests mutate copies.

Full rebuilds of six articles stay cheap, so ingest, integrity and fault tests share this.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from switchyard.knowledge import ingest as kb

ARTICLES = Path(kb.__file__).resolve().parent / "articles"
SMALL_KB = ["resetting-your-password", "refund-policy", "webhooks-setup-and-signatures",
            "api-rate-limits", "plans-and-pricing", "data-import-csv"]


@pytest.fixture(scope="session")
def small_kb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(articles dir, index dir) of a built index over :data:`SMALL_KB`; copy before mutating."""
    base = tmp_path_factory.mktemp("small-kb")
    articles, index = base / "articles", base / "index"
    articles.mkdir()
    for slug in SMALL_KB:
        shutil.copy(ARTICLES / f"{slug}.md", articles)
    kb.ingest(articles_dir=articles, index_dir=index)
    return articles, index


@pytest.fixture
def kb_copy(small_kb: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of :func:`small_kb`, the index in a directory of its own."""
    articles, index = tmp_path / "articles", tmp_path / "kb" / "index"
    shutil.copytree(small_kb[0], articles)
    shutil.copytree(small_kb[1], index)
    return articles, index
