"""Build the knowledge-base index: parse articles, chunk, embed offline, save a FAISS index.

Layout under ``index_dir``::

    manifest.json            # the commit point: written last, atomically (temp file + rename)
    builds/<kb_version>-<n>/ # one immutable build per ingest
        index.faiss          # faiss.write_index: raw vectors, no pickle
        docstore.json        # chunk texts and metadata, plain JSON

The manifest records each article's content hash and chunk ids, the embedding model, the chunking
parameters and the sha256 of every build file. A build is loaded only if its files hash to what
the manifest says; we also never unpickle (FAISS.load_local would), we rebuild the langchain
``FAISS`` store from JSON. A crash mid-ingest leaves the previous manifest and build untouched.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from pydantic import BaseModel, Field

from switchyard.core.domain import active_pack
from switchyard.core.fileset import sha256_of as file_sha256

if TYPE_CHECKING:
    from switchyard.core.settings import RetrievalSettings

MANIFEST = "manifest.json"
INDEX_FILE = "index.faiss"
DOCSTORE_FILE = "docstore.json"
BUILD_FILES = (INDEX_FILE, DOCSTORE_FILE)
MANIFEST_FORMAT = 1
_EMBED_BATCH = 32

ProgressFn = Callable[[int, int], None]
log = logging.getLogger(__name__)


class IndexIntegrityError(RuntimeError):
    """The index on disk does not match the manifest we wrote (tampered, corrupt or partial)."""


class ArticleError(ValueError):
    """An article's front-matter is missing or invalid."""


# One article's file may hold at most this many bytes (a help-centre page is a few KiB); a larger
# file is refused rather than chunked and embedded for minutes. Its front-matter, at most this.
MAX_ARTICLE_BYTES = 1 << 20  # 1 MiB
MAX_FRONT_MATTER_BYTES = 16 << 10  # 16 KiB


# --------------------------------------------------------------------------------------------
# Articles
# --------------------------------------------------------------------------------------------


class Article(BaseModel):
    id: str
    title: str
    category: str
    updated: dt.date
    body: str
    sha256: str

    @property
    def url(self) -> str:
        # The active domain pack's help-centre address for this article.
        return active_pack().manifest.product.article_url.format(id=self.id)


ARTICLE_SUFFIXES = (".md", ".txt", ".html", ".htm")


def _plain_article(path: Path, raw: str, title: str, body: str) -> Article:
    """An article without front-matter: category "general", dated by the file's mtime."""
    updated = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC).date()
    if not body.strip():
        raise ArticleError(f"{_shown(path)}: the article is empty")
    return Article(id=path.stem, title=title.strip() or path.stem.replace("-", " "),
                   category="general", updated=updated, body=body.strip(),
                   sha256=hashlib.sha256(raw.encode("utf-8")).hexdigest())


def _html_article(path: Path, raw: str) -> Article:
    """An HTML page through BeautifulSoup (the ``html`` extra): its <title> (or first <h1>),
    and its text with scripts, styles and navigation removed."""
    try:
        from bs4 import BeautifulSoup
    except ImportError:
        raise ArticleError(f"{_shown(path)}: HTML articles need BeautifulSoup; install it with "
                           "pip install 'switchyard[html]' (or convert the page to .md)") from None
    soup = BeautifulSoup(raw, "html.parser")
    for junk in soup(["script", "style", "nav", "header", "footer", "noscript"]):
        junk.decompose()
    heading = soup.find("h1")
    title = (soup.title.get_text(" ", strip=True) if soup.title else "") or (
        heading.get_text(" ", strip=True) if heading else "")
    if soup.title:
        soup.title.decompose()
    root = soup.body or soup
    lines = [ln.strip() for ln in root.get_text("\n").splitlines()]
    body = "\n".join(ln for ln in lines if ln)
    return _plain_article(path, raw, title, body)


def _shown(path: Path) -> str:
    """The file's name for a message: as is if printable, else its repr (never raw bytes or
    control characters on a terminal)."""
    name = path.name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return repr(os.fsencode(name))
    return name if name.isprintable() else repr(name)


def _read_article(path: Path) -> str:
    """The article's text: at most ``MAX_ARTICLE_BYTES`` of UTF-8, a leading BOM dropped and line
    endings (CRLF, CR) made ``\n``."""
    name = _shown(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        # The link's target (``_article_paths`` checked that it lies in the articles folder),
        # opened without following a link swapped in meanwhile or blocking on a FIFO.
        fd = os.open(path.resolve(), flags)
    except OSError as exc:
        raise ArticleError(f"{name}: cannot be read ({exc.strerror or exc})") from exc
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ArticleError(f"{name}: not a regular file")
        if st.st_size > MAX_ARTICLE_BYTES:
            raise ArticleError(f"{name}: {st.st_size:,} bytes, over the {MAX_ARTICLE_BYTES:,}-byte "
                               "(1 MiB) limit for one article; split it into smaller articles")
        data = fh.read(MAX_ARTICLE_BYTES + 1)
    if len(data) > MAX_ARTICLE_BYTES:
        raise ArticleError(f"{name}: over the {MAX_ARTICLE_BYTES:,}-byte (1 MiB) limit for one "
                           "article; split it into smaller articles")
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                           f"{exc.start}); save it as UTF-8") from exc
    return raw.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


class _NoAliases(yaml.YAMLError):
    pass


class _FrontMatterLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without anchors and aliases: front-matter needs neither, and aliases
    nest (a "billion laughs" of a few lines expands to gigabytes)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            mark = event.start_mark
            raise _NoAliases(f"YAML anchors and aliases (&, *) are not allowed (line {mark.line + 2})")
        return super().compose_node(parent, index)


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^---[ \t]*(?:\n|\Z)", re.S | re.M)


def _front_matter(name: str, front: str) -> dict[str, Any]:
    if len(front.encode("utf-8")) > MAX_FRONT_MATTER_BYTES:
        raise ArticleError(f"{name}: front-matter is over the {MAX_FRONT_MATTER_BYTES:,}-byte limit")
    try:
        meta = yaml.load(front, Loader=_FrontMatterLoader)  # noqa: S506 (a SafeLoader)
    except _NoAliases as exc:
        raise ArticleError(f"{name}: front-matter: {exc}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 2}" if where is not None else ""
        what = getattr(exc, "problem", None) or type(exc).__name__
        raise ArticleError(f"{name}: front-matter is not valid YAML{line} ({what})") from None
    except RecursionError:
        raise ArticleError(f"{name}: front-matter is nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. updated: 2024-13-45
        raise ArticleError(f"{name}: front-matter has an invalid value ({exc})") from None
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise ArticleError(f"{name}: front-matter must be a mapping of keys (title, category, "
                           f"updated), not a {type(meta).__name__}")
    return meta


def parse_article(path: Path) -> Article:
    """Parse one article; the id is the filename stem. Markdown with YAML front-matter (title,
    category, updated), markdown without it (the title is its first ``#`` heading), plain text
    (the first line is the title) or HTML. Any problem with the file is an ``ArticleError`` that
    names it."""
    name = _shown(path)
    raw = _read_article(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return _html_article(path, raw)
    if suffix == ".txt":
        first, _, rest = raw.strip().partition("\n")
        return _plain_article(path, raw, first, rest or first)
    if not re.match(r"---[ \t]*\n", raw):
        heading = re.search(r"^#\s+(.+)$", raw, flags=re.M)
        return _plain_article(path, raw, heading.group(1) if heading else "", raw)
    found = _FRONT_MATTER.match(raw)
    if found is None:
        raise ArticleError(f"{name}: unterminated front-matter (no closing --- line)")
    meta = _front_matter(name, found.group(1))
    body = raw[found.end():]
    missing = [key for key in ("title", "category", "updated") if not meta.get(key)]
    if missing:
        raise ArticleError(f"{name}: front-matter lacks {', '.join(missing)}")
    for key in ("id", "title", "category"):
        if isinstance(meta.get(key), (dict, list, set)):
            raise ArticleError(f"{name}: front-matter {key} must be text, not a "
                               f"{type(meta[key]).__name__}")
    slug = str(meta.get("id", path.stem))
    if slug != path.stem:
        raise ArticleError(f"{name}: id {slug!r} must equal the filename stem")
    updated = meta["updated"]
    if isinstance(updated, dt.datetime):
        updated = updated.date()
    if not isinstance(updated, dt.date):
        try:
            updated = dt.date.fromisoformat(str(updated))
        except ValueError as exc:
            raise ArticleError(f"{name}: updated must be a YYYY-MM-DD date") from exc
    return Article(
        id=slug,
        title=str(meta["title"]),
        category=str(meta["category"]),
        updated=updated,
        body=body.strip(),
        # Hash the whole file so front-matter edits (title, category) also count as changes.
        sha256=hashlib.sha256(raw.encode("utf-8")).hexdigest(),
    )


def _article_paths(articles_dir: Path) -> tuple[list[Path], list[str]]:
    """The article files in ``articles_dir`` and, for the ones skipped, why.

    Skipped: directories, devices, dangling links (not files); links whose target lies outside
    the folder (a pack's articles are its own files); names that are not valid UTF-8 (an id
    must be text)."""
    root = Path(articles_dir)
    if not root.is_dir():
        return [], []
    real_root = root.resolve()
    paths: list[Path] = []
    skipped: list[str] = []
    for p in sorted(root.iterdir()):
        try:
            p.name.encode("utf-8")
        except UnicodeEncodeError:
            if p.suffix.lower() in ARTICLE_SUFFIXES:
                skipped.append(f"{_shown(p)}: file name is not valid UTF-8; rename it")
            continue
        if p.suffix.lower() not in ARTICLE_SUFFIXES or not p.is_file():
            continue
        if p.is_symlink():
            try:
                target = p.resolve(strict=True)
            except (OSError, RuntimeError):
                continue
            if not target.is_relative_to(real_root):
                skipped.append(f"{_shown(p)}: a link to {target}, outside {real_root}")
                continue
        paths.append(p)
    return paths, skipped


def scan_articles(articles_dir: Path) -> tuple[list[Article], list[str]]:
    """Every article in ``articles_dir``, and a line for each file skipped (see
    ``_article_paths``). A file that cannot be parsed raises ``ArticleError``."""
    paths, skipped = _article_paths(articles_dir)
    articles = [parse_article(p) for p in paths]
    if not articles:
        raise ArticleError(f"no articles found in {articles_dir} (.md, .txt or .html); add the "
                           "help-centre articles there (paths.articles in the domain manifest)")
    ids = [a.id for a in articles]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ArticleError(f"{articles_dir}: two articles share the name(s) {duplicated} "
                           "(one id per file stem); rename one of each")
    for line in skipped:
        log.warning("article skipped: %s", line)
    return articles, skipped


def load_articles(articles_dir: Path) -> list[Article]:
    return scan_articles(articles_dir)[0]


def compute_kb_version(article_hashes: dict[str, str]) -> str:
    """Short hash over every article's content hash: changes iff any article changes."""
    digest = hashlib.sha256()
    for slug in sorted(article_hashes):
        digest.update(f"{slug}:{article_hashes[slug]}\n".encode())
    return digest.hexdigest()[:12]


# --------------------------------------------------------------------------------------------
# Chunking
# --------------------------------------------------------------------------------------------


class Chunk(BaseModel):
    chunk_id: str
    source: str
    title: str
    section: str
    text: str  # title-prefixed, what is embedded and returned

    def metadata(self, url: str) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "source": self.source,
            "title": self.title,
            "section": self.section,
            "url": url,
        }


def chunk_article(article: Article, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    """Split by markdown headers, then by size; prefix every chunk with title and section.

    The prefix keeps each chunk self-describing ("Refunds > Annual plans: ...") so a chunk taken
    out of its article still matches questions about its topic.
    """
    from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

    by_header = MarkdownHeaderTextSplitter(
        headers_to_split_on=[("#", "h1"), ("##", "h2"), ("###", "h3")], strip_headers=True
    )
    by_size = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size, chunk_overlap=chunk_overlap, separators=["\n\n", "\n", ". ", " ", ""]
    )
    chunks: list[Chunk] = []
    for section_doc in by_header.split_text(article.body):
        headers = [section_doc.metadata[h] for h in ("h1", "h2", "h3") if h in section_doc.metadata]
        headers = [h for h in headers if h != article.title]
        section = " > ".join(headers)
        for piece in by_size.split_text(section_doc.page_content):
            if not piece.strip():
                continue
            heading = f"{article.title} > {section}" if section else article.title
            chunks.append(
                Chunk(
                    chunk_id=f"{article.id}#{len(chunks):02d}",
                    source=article.id,
                    title=article.title,
                    section=section,
                    text=f"{heading}\n\n{piece.strip()}",
                )
            )
    return chunks


# --------------------------------------------------------------------------------------------
# Files, hashes, manifest
# --------------------------------------------------------------------------------------------


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_manifest(index_dir: Path) -> dict[str, Any] | None:
    path = Path(index_dir) / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise IndexIntegrityError(f"{path} is not valid JSON") from exc
    if manifest.get("format") != MANIFEST_FORMAT:
        return None
    return manifest


_BUILD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def build_dir(index_dir: Path, manifest: dict[str, Any]) -> Path:
    """The manifest's build directory, confined to ``index_dir/builds``.

    The manifest is data on disk, not code: a ``build`` of ``../../elsewhere`` (or a symlink out
    of the index) would make us load vectors and passages from anywhere, so it must be a plain
    name of a directory that really lies under ``builds/``."""
    name = manifest.get("build")
    if not isinstance(name, str) or not _BUILD_NAME.match(name) or name in (".", ".."):
        raise IndexIntegrityError(f"manifest names an invalid build {name!r}; refusing to load it")
    builds = (Path(index_dir) / "builds").resolve()
    build = (builds / name).resolve()
    if build.parent != builds:
        raise IndexIntegrityError(f"manifest build {name!r} resolves outside {builds}; "
                                  "refusing to load it")
    return build


def verify_build(index_dir: Path, manifest: dict[str, Any]) -> Path:
    """Return the build directory if every file hashes to the manifest's value, else raise."""
    expected: dict[str, str] = manifest.get("files", {})
    if not manifest.get("build") or set(expected) != set(BUILD_FILES):
        raise IndexIntegrityError("manifest does not describe a complete build")
    build = build_dir(index_dir, manifest)
    for name, sha in expected.items():
        path = build / name
        if not path.is_file():
            raise IndexIntegrityError(f"index file missing: {path}")
        actual = file_sha256(path)
        if actual != sha:
            raise IndexIntegrityError(
                f"index file {path} has sha256 {actual[:12]}…, the manifest expects {sha[:12]}…; "
                "refusing to load it"
            )
    return build


class IndexReadOnlyError(RuntimeError):
    """The index must be (re)built but its directory cannot be written."""


@contextlib.contextmanager
def _ingest_lock(index_dir: Path) -> Iterator[bool]:
    """Serialize ingests across processes (two CLIs, a server and a CLI).

    Yields False on a read-only home: nothing can be written there, so an ingest may still check
    that the committed index is current, but must not try to build one."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fh = (index_dir / ".lock").open("a")
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        yield False
        return
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            _remove_orphans(index_dir)
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_orphans(index_dir: Path) -> None:
    """What an ingest killed mid-way leaves: temporary builds and manifests, and a finished build
    the manifest never came to name. We hold the lock, so no live ingest owns any of them."""
    for tmp in (index_dir / "builds").glob(".tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    for tmp in index_dir.glob(f".{MANIFEST}.*.tmp"):
        tmp.unlink(missing_ok=True)
    try:
        manifest = read_manifest(index_dir)
        current = build_dir(index_dir, manifest).name if manifest else None
    except IndexIntegrityError:
        return  # the next load rebuilds; keep everything until then
    if current is None:
        return
    for entry in (index_dir / "builds").glob("*"):
        if entry.is_dir() and entry.name != current:
            shutil.rmtree(entry, ignore_errors=True)


def _read_only_error(index_dir: Path, why: str) -> IndexReadOnlyError:
    return IndexReadOnlyError(
        f"the knowledge index in {index_dir} {why}, and the directory is read-only, so it cannot "
        "be rebuilt here. Run `switchyard ingest --force` where SWITCHYARD_HOME is writable.")


# --------------------------------------------------------------------------------------------
# FAISS store (langchain-community) without pickle
# --------------------------------------------------------------------------------------------


def _lc_embeddings() -> Any:
    from langchain_core.embeddings import Embeddings

    class _VectorsOnly(Embeddings):
        # FAISS wants an ``Embeddings``; we always search by the request's vector (computed once
        # per request by the graph), so text is never embedded through the store.
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            raise NotImplementedError("search the knowledge index by vector")

        def embed_query(self, text: str) -> list[float]:
            raise NotImplementedError("search the knowledge index by vector")

    return _VectorsOnly()


def build_store(chunks: list[dict[str, Any]], vectors: np.ndarray) -> Any:
    """A langchain ``FAISS`` store over normalised vectors scored by inner product (= cosine)."""
    import faiss
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy
    from langchain_core.documents import Document

    index = faiss.IndexFlatIP(vectors.shape[1] if vectors.size else 384)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    docs = {
        c["metadata"]["chunk_id"]: Document(
            id=c["metadata"]["chunk_id"], page_content=c["text"], metadata=c["metadata"]
        )
        for c in chunks
    }
    return FAISS(
        embedding_function=_lc_embeddings(),
        index=index,
        docstore=InMemoryDocstore(docs),
        index_to_docstore_id={i: c["metadata"]["chunk_id"] for i, c in enumerate(chunks)},
        distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
    )


class LoadedIndex(BaseModel):
    model_config = {"arbitrary_types_allowed": True}

    store: Any
    chunks: list[dict[str, Any]]
    vectors: np.ndarray
    manifest: dict[str, Any]


def load_index(index_dir: Path) -> LoadedIndex | None:
    """Load the committed build after verifying its hashes; None if nothing was ever built.

    Any failure to load a committed build (FAISS refusing a truncated file, a docstore that is
    not JSON, an I/O error) is an ``IndexIntegrityError``, the one error the retriever and
    ``ingest`` answer with a rebuild."""
    manifest = read_manifest(index_dir)
    if manifest is None:
        return None
    build = verify_build(index_dir, manifest)
    try:
        return _load_build(build, manifest)
    except IndexIntegrityError:
        raise
    except Exception as exc:
        raise IndexIntegrityError(f"index build {build} cannot be loaded: "
                                  f"{type(exc).__name__}: {exc}") from exc


def _load_build(build: Path, manifest: dict[str, Any]) -> LoadedIndex:
    import faiss

    index = faiss.read_index(str(build / INDEX_FILE))
    chunks = json.loads((build / DOCSTORE_FILE).read_text(encoding="utf-8"))
    if not isinstance(chunks, list) or index.ntotal != len(chunks):
        raise IndexIntegrityError("index and docstore disagree on the number of chunks")
    vectors = index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, 384), "f4")
    return LoadedIndex(
        store=build_store(chunks, vectors), chunks=chunks, vectors=vectors, manifest=manifest
    )


# --------------------------------------------------------------------------------------------
# Ingest
# --------------------------------------------------------------------------------------------


EmbedTexts = Callable[[list[str]], np.ndarray]


class IngestReport(BaseModel):
    model_config = {"arbitrary_types_allowed": True}

    kb_version: str
    articles: int
    chunks: int
    added: list[str] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    unchanged: int = 0
    embedded_chunks: int = 0
    rebuilt: bool = False
    note: str = ""
    seconds: float = 0.0
    # The index as committed, already loaded: the retriever takes it instead of reading the
    # files a second time. Not part of the report's data.
    index: LoadedIndex | None = Field(default=None, exclude=True, repr=False)

    def summary(self) -> str:
        """One line for a person: what the index holds and what this ingest did."""
        did = (f"{self.embedded_chunks} chunks embedded" if self.embedded_chunks
               else "nothing changed")
        return (f"{self.articles} articles, {self.chunks} chunks (kb_version {self.kb_version}; "
                f"{did}, {self.seconds:.1f} s)")


def ingest(
    force: bool = False,
    *,
    articles_dir: Path,
    index_dir: Path,
    chunking: RetrievalSettings,
    embed: EmbedTexts,
    vectors: str | None = None,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """(Re)build the index, re-embedding only articles whose content hash changed.

    Idempotent: when nothing changed, nothing is written and kb_version stays the same.
    ``force`` re-embeds everything. A build that fails verification is rebuilt from scratch.
    ``embed`` is called only for chunks that need vectors, so a no-op ingest never loads the
    encoder. The report carries the committed index, loaded (``report.index``).
    """
    from switchyard.encoder.embedder import EMBEDDING_DIM, Embedder, default_vectors_id

    started = time.perf_counter()
    articles_dir, index_dir, rcfg = Path(articles_dir), Path(index_dir), chunking
    chunking_params = {"chunk_size": rcfg.chunk_size, "chunk_overlap": rcfg.chunk_overlap}
    # The model loads only if something needs embedding, so a no-op ingest stays instant.
    model_name = Embedder.name
    # Which vectors (``Embedder.vectors_id``; default: the shipped encoder's): another
    # encoder's are never mixed in.
    encoder = vectors or default_vectors_id()

    with _ingest_lock(index_dir) as writable:
        articles, skipped = scan_articles(articles_dir)
        hashes = {a.id: a.sha256 for a in articles}
        version = compute_kb_version(hashes)

        notes = [f"skipped {line}" for line in skipped]
        old: LoadedIndex | None = None
        try:
            old = load_index(index_dir)
        except IndexIntegrityError as exc:
            if not writable:
                raise _read_only_error(index_dir, f"is damaged ({exc})") from exc
            notes.append(f"previous index refused ({exc}); rebuilt from scratch")
        note = "; ".join(notes)

        old_articles: dict[str, Any] = old.manifest.get("articles", {}) if old else {}
        # Old vectors are only reusable if produced by the same model and chunking.
        reusable = bool(
            old
            and not force
            and old.manifest.get("embedding_model") == model_name
            and old.manifest.get("encoder") == encoder
            and old.manifest.get("chunking") == chunking_params
        )
        added = [a.id for a in articles if a.id not in old_articles]
        changed = [
            a.id
            for a in articles
            if a.id in old_articles and old_articles[a.id]["sha256"] != a.sha256
        ]
        removed = sorted(set(old_articles) - set(hashes))
        unchanged = len(articles) - len(added) - len(changed)

        if reusable and old and not added and not changed and not removed:
            return IngestReport(
                index=old,
                kb_version=version,
                articles=len(articles),
                chunks=len(old.chunks),
                unchanged=unchanged,
                note=note,
                seconds=round(time.perf_counter() - started, 3),
            )

        if not writable:
            raise _read_only_error(index_dir, "is missing or out of date")

        # Reuse vectors chunk by chunk for articles whose hash is unchanged.
        old_vectors: dict[str, np.ndarray] = {}
        if reusable and old:
            for row, chunk in enumerate(old.chunks):
                old_vectors[chunk["metadata"]["chunk_id"]] = old.vectors[row]

        all_chunks: list[dict[str, Any]] = []
        to_embed: list[int] = []
        for article in articles:
            same = reusable and old_articles.get(article.id, {}).get("sha256") == article.sha256
            for chunk in chunk_article(article, rcfg.chunk_size, rcfg.chunk_overlap):
                if not (same and chunk.chunk_id in old_vectors):
                    to_embed.append(len(all_chunks))
                all_chunks.append({"text": chunk.text, "metadata": chunk.metadata(article.url)})

        vectors = np.zeros((len(all_chunks), EMBEDDING_DIM), dtype=np.float32)
        fresh = set(to_embed)
        for row, chunk in enumerate(all_chunks):
            if row not in fresh:
                vectors[row] = old_vectors[chunk["metadata"]["chunk_id"]]
        done = 0
        if progress:
            progress(0, len(to_embed))
        for start in range(0, len(to_embed), _EMBED_BATCH):
            rows = to_embed[start : start + _EMBED_BATCH]
            vectors[rows] = embed([all_chunks[r]["text"] for r in rows])
            done += len(rows)
            if progress:
                progress(done, len(to_embed))

        committed = _commit(
            index_dir,
            all_chunks,
            vectors,
            {
                "format": MANIFEST_FORMAT,
                "kb_version": version,
                "embedding_model": model_name,
                "encoder": encoder,
                "dim": EMBEDDING_DIM,
                "chunking": chunking_params,
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "articles": {
                    a.id: {
                        "sha256": a.sha256,
                        "title": a.title,
                        "category": a.category,
                        "chunks": [
                            c["metadata"]["chunk_id"]
                            for c in all_chunks
                            if c["metadata"]["source"] == a.id
                        ],
                    }
                    for a in articles
                },
            },
        )
        return IngestReport(
            index=committed,
            kb_version=version,
            articles=len(articles),
            chunks=len(all_chunks),
            added=added,
            changed=changed,
            removed=removed,
            unchanged=unchanged,
            embedded_chunks=len(to_embed),
            rebuilt=not reusable,
            note=note,
            seconds=round(time.perf_counter() - started, 3),
        )


def _commit(
    index_dir: Path, chunks: list[dict[str, Any]], vectors: np.ndarray, manifest: dict[str, Any]
) -> LoadedIndex:
    """Write a new build in a temp dir, rename it into place, then swap the manifest."""
    import faiss

    builds = index_dir / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=builds, prefix=".tmp-"))
    try:
        store = build_store(chunks, vectors)
        faiss.write_index(store.index, str(tmp / INDEX_FILE))
        (tmp / DOCSTORE_FILE).write_text(json.dumps(chunks, ensure_ascii=False), encoding="utf-8")
        for name in BUILD_FILES:
            with (tmp / name).open("rb") as fh:
                os.fsync(fh.fileno())
        name = f"{manifest['kb_version']}-{time.time_ns()}"
        final = builds / name
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest["build"] = name
    manifest["files"] = {f: file_sha256(final / f) for f in BUILD_FILES}
    _atomic_write_text(index_dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
    # Old builds are garbage now; a reader holding one open keeps its already-loaded copy.
    for entry in builds.iterdir():
        if entry.name != name:
            shutil.rmtree(entry, ignore_errors=True)
    return LoadedIndex(store=store, chunks=chunks, vectors=vectors, manifest=manifest)
