"""Hostile articles folders: alias bombs, oversized files, links out of the folder, CRLF and BOM
front-matter, unparsable files and file names. Each is a one-line ``ArticleError`` naming the
file (or a skipped file, said in the ingest's note), never a crash or an "unexpected" error.

No model is loaded: parsing is pure text and the ingest tests embed with a stand-in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from switchyard.cli.main import friendly_error
from switchyard.core.settings import Settings
from switchyard.knowledge import ingest as kb

GOOD = "---\ntitle: Refunds\ncategory: billing\nupdated: 2024-01-01\n---\n\n# Refunds\n\nWithin 30 days.\n"


def _folder(tmp_path: Path, **files: str | bytes) -> Path:
    articles = tmp_path / "articles"
    articles.mkdir(parents=True, exist_ok=True)
    (articles / "refunds.md").write_text(GOOD)
    for name, content in files.items():
        path = articles / name.replace("__", ".")
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return articles


def _refused(articles: Path, *patterns: str) -> str:
    with pytest.raises(kb.ArticleError) as info:
        kb.load_articles(articles)
    message = str(info.value)
    for pattern in patterns:
        assert pattern in message, message
    assert not friendly_error(info.value).startswith("unexpected"), message
    return message


def _ingest(articles: Path, index: Path) -> kb.IngestReport:
    def embed(texts: list[str]) -> np.ndarray:
        vectors = np.ones((len(texts), 384), dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return kb.ingest(articles_dir=articles, index_dir=index, chunking=Settings().retrieval,
                     embed=embed, vectors="test-vectors")


def _served(index: Path) -> str:
    loaded = kb.load_index(index)
    assert loaded is not None
    return json.dumps(loaded.chunks)


# 1. YAML alias bomb --------------------------------------------------------------------------


BOMB = """---
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
title: [*c, *c, *c, *c, *c, *c, *c, *c, *c]
category: x
updated: 2024-01-01
---
Body.
"""


def test_yaml_aliases_in_front_matter_are_refused(tmp_path: Path) -> None:
    _refused(_folder(tmp_path, bomb__md=BOMB), "bomb.md", "aliases")
    # A single anchor, without any alias, is refused too: front-matter never needs one.
    articles = _folder(tmp_path / "b", one__md=GOOD.replace("title: Refunds", "title: &t Refunds"))
    _refused(articles, "one.md", "anchors")


def test_oversized_front_matter_is_refused(tmp_path: Path) -> None:
    filler = "".join(f"k{i}: {'x' * 60}\n" for i in range(400))
    huge = GOOD.replace("title: Refunds\n", "title: Refunds\n" + filler)
    _refused(_folder(tmp_path, big__md=huge), "big.md", "front-matter", "limit")


# 2. Size limit -------------------------------------------------------------------------------


def test_an_article_over_the_size_limit_is_refused_and_the_index_kept(tmp_path: Path) -> None:
    articles, index = _folder(tmp_path), tmp_path / "index"
    _ingest(articles, index)
    before = (index / kb.MANIFEST).read_text()
    body = "# Huge\n\n" + ("word " * 200 + "\n\n") * (kb.MAX_ARTICLE_BYTES // 1000 + 1)
    (articles / "huge.md").write_text(body)
    assert kb.MAX_ARTICLE_BYTES == 1 << 20
    _refused(articles, "huge.md", "1,048,576-byte (1 MiB) limit")
    with pytest.raises(kb.ArticleError, match="huge.md"):
        _ingest(articles, index)
    assert (index / kb.MANIFEST).read_text() == before


# 3. Links out of the folder ------------------------------------------------------------------


def test_a_link_to_a_file_outside_the_folder_is_skipped_and_said(tmp_path: Path) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text("# Secret\n\nThe admin password is hunter2.\n")
    articles = _folder(tmp_path)
    (articles / "inside.md").symlink_to(articles / "refunds.md")  # a link within: kept
    (articles / "leak.md").symlink_to(secret)
    (articles / "leak2.md").symlink_to(os.path.relpath(secret, articles))
    ids = sorted(a.id for a in kb.load_articles(articles))
    assert ids == ["inside", "refunds"]
    report = _ingest(articles, tmp_path / "index")
    assert "leak.md" in report.note and "leak2.md" in report.note and "outside" in report.note
    assert "hunter2" not in _served(tmp_path / "index")


# 4. CRLF and BOM ---------------------------------------------------------------------------


def test_front_matter_with_crlf_and_a_bom_is_parsed(tmp_path: Path) -> None:
    crlf = GOOD.replace("Refunds", "Windows").replace("\n", "\r\n").encode()
    bom = b"\xef\xbb\xbf" + GOOD.replace("Refunds", "Bom").encode()
    both = b"\xef\xbb\xbf" + GOOD.replace("Refunds", "Both").replace("\n", "\r\n").encode()
    articles = _folder(tmp_path, crlf__md=crlf, bom__md=bom, both__md=both)
    got = {a.id: a for a in kb.load_articles(articles)}
    for slug, title in (("crlf", "Windows"), ("bom", "Bom"), ("both", "Both")):
        assert got[slug].title == title
        assert got[slug].category == "billing"
        assert "---" not in got[slug].body and "title:" not in got[slug].body
        assert "\r" not in got[slug].body and "\ufeff" not in got[slug].body
    # A BOM on a plain-text article is not part of its title either.
    (articles / "plain.txt").write_bytes(b"\xef\xbb\xbfPlain title\r\nSome text.\r\n")
    assert {a.id: a for a in kb.load_articles(articles)}["plain"].title == "Plain title"


# 5. Parse errors name the file -------------------------------------------------------------


@pytest.mark.parametrize(("content", "says"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not UTF-8"),
    ("---\ntitle: [unclosed\ncategory: c\nupdated: 2024-01-01\n---\nBody.\n", "not valid YAML"),
    ("---\n- a\n- list\n---\nBody.\n", "must be a mapping"),
    ("---\njust a string\n---\nBody.\n", "must be a mapping"),
    ("---\ntitle: T\ncategory: c\nupdated: 2024-13-45\n---\nBody.\n", "invalid value"),
    ("---\ntitle: [a, b]\ncategory: c\nupdated: 2024-01-01\n---\nBody.\n", "title must be text"),
    ("---\ntitle: T\ncategory: c\nupdated: 2024-01-01\nBody without a closing line.\n",
     "unterminated"),
], ids=["binary", "unclosed", "list", "string", "bad-date", "list-title", "unterminated"])
def test_parse_errors_name_the_file(tmp_path: Path, content: str | bytes, says: str) -> None:
    _refused(_folder(tmp_path, broken__md=content), "broken.md", says)


def test_a_file_name_that_is_not_utf8_is_skipped_and_does_not_poison_the_index(
    tmp_path: Path,
) -> None:
    articles, index = _folder(tmp_path), tmp_path / "index"
    bad = os.fsencode(articles) + b"/bad\xffname.md"
    with open(bad, "wb") as fh:
        fh.write(GOOD.encode())
    assert [a.id for a in kb.load_articles(articles)] == ["refunds"]
    report = _ingest(articles, index)
    assert "bad\\xffname.md" in report.note and "UTF-8" in report.note
    assert report.note.isprintable()
    # The index was committed and loads; a second ingest (what `ask` does) works the same way.
    assert "refunds" in _served(index)
    again = _ingest(articles, index)
    assert again.embedded_chunks == 0 and "bad\\xffname.md" in again.note
