"""Search the knowledge base: dense cosine over FAISS, fused with a light BM25 re-rank.

The front door (``switchyard.app``) ingests once and hands the loaded index to the retriever.
``search`` accepts a precomputed query embedding because the graph embeds each request once and
shares the vector between classifier, cache and retrieval.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from switchyard.core.settings import Settings
from switchyard.encoder.embedder import Embedder
from switchyard.knowledge.ingest import (
    MANIFEST,
    IndexIntegrityError,
    LoadedIndex,
    ingest,
    load_index,
)

log = logging.getLogger(__name__)

MAX_PER_ARTICLE = 2
# Candidates pulled from FAISS before re-ranking and per-article dedupe.
_FETCH_FACTOR = 10
# Weight of the normalised BM25 score added to the cosine score when ranking (measured on
# the bundled pack's retrieval questions, paths.retrieval_eval; see knowledge/README.md). Passage.score stays pure cosine.
LEXICAL_WEIGHT = 0.3
# How often search() checks whether another process committed a new index (then reloads it).
_RELOAD_CHECK_S = 5.0


class Passage(BaseModel):
    source: str  # article id
    title: str
    text: str
    score: float  # cosine similarity, higher is better
    chunk_id: str
    url: str


_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_STOP = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by can do does for from how i if in is it my of on or our the to "
        "we what when where which who why will with you your me this that there",
    )
)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    for tok in _TOKEN.findall(text.lower()):
        if tok in _STOP:
            continue
        out.append(tok)
        if "-" in tok:  # "qs-429" also matches "429"; "sign-in" matches "sign"
            out.extend(p for p in tok.split("-") if p and p not in _STOP)
    return out


class BM25:
    """Okapi BM25 over the chunk texts (pure python; the corpus is a few hundred chunks)."""

    def __init__(self, docs: list[str], k1: float = 1.4, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.tfs = [Counter(_tokens(d)) for d in docs]
        self.lens = [sum(tf.values()) for tf in self.tfs]
        self.avg = (sum(self.lens) / len(self.lens)) if self.lens else 0.0
        df: Counter[str] = Counter()
        for tf in self.tfs:
            df.update(tf.keys())
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: str, rows: list[int]) -> list[float]:
        terms = [t for t in set(_tokens(query)) if t in self.idf]
        out = []
        for row in rows:
            tf, length, s = self.tfs[row], self.lens[row], 0.0
            for t in terms:
                f = tf.get(t, 0)
                if f:
                    norm = f + self.k1 * (1 - self.b + self.b * length / (self.avg or 1))
                    s += self.idf[t] * f * (self.k1 + 1) / norm
            out.append(s)
        return out


class Retriever:
    """Search over one knowledge index; picks up a newer index another process committed."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        *,
        index: LoadedIndex | None = None,
        lexical_weight: float = LEXICAL_WEIGHT,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.index_dir = Path(settings.index_dir)
        self.articles_dir = Path(settings.articles_dir)
        self.lexical_weight = lexical_weight
        self._lock = threading.RLock()
        self._loaded: LoadedIndex | None = None
        self._bm25: BM25 | None = None
        self._row_of: dict[str, int] = {}
        self._stamp: tuple[int, int] | None = None
        self._checked_at = 0.0
        if index is not None:
            self.use_index(index)
        else:
            self.reload()

    # -- loading ---------------------------------------------------------------------------
    def reload(self) -> None:
        """Load the committed index (building it if missing, rebuilding it if it is refused)."""
        with self._lock:
            try:
                loaded = load_index(self.index_dir)
            except IndexIntegrityError as exc:
                log.warning("knowledge index refused, rebuilding: %s", exc)
                loaded = None
            if loaded is None:
                loaded = ingest(articles_dir=self.articles_dir, index_dir=self.index_dir,
                                chunking=self.settings.retrieval, embed=self.embedder.embed,
                                vectors=getattr(self.embedder, "vectors_id", None)).index
            assert loaded is not None
            self.use_index(loaded)

    def use_index(self, loaded: LoadedIndex) -> None:
        """Serve ``loaded`` (an index this process just ingested or loaded)."""
        with self._lock:
            self._loaded = loaded
            self._bm25 = BM25([c["text"] for c in loaded.chunks])
            self._row_of = {c["metadata"]["chunk_id"]: i for i, c in enumerate(loaded.chunks)}
            self._stamp = self._manifest_stamp()
            self._checked_at = time.monotonic()

    def refresh(self) -> bool:
        """Pick up a newer committed index (a cheap manifest check); True if it was reloaded."""
        before = self._stamp
        self._checked_at = 0.0  # check now, not after the usual interval
        self._maybe_reload()
        return self._stamp != before

    def _manifest_stamp(self) -> tuple[int, int] | None:
        try:
            st = (self.index_dir / MANIFEST).stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _maybe_reload(self) -> None:
        """Pick up an index committed by another process (e.g. `switchyard ingest`)."""
        now = time.monotonic()
        if now - self._checked_at < _RELOAD_CHECK_S:
            return
        self._checked_at = now
        if self._manifest_stamp() != self._stamp:
            self.reload()

    @property
    def kb_version(self) -> str:
        assert self._loaded is not None
        return str(self._loaded.manifest["kb_version"])

    @property
    def size(self) -> int:
        return len(self._loaded.chunks) if self._loaded else 0

    # -- search ----------------------------------------------------------------------------
    def search(
        self, query: str, k: int | None = None, embedding: np.ndarray | None = None
    ) -> list[Passage]:
        """Top-k passages, at most two per article, cosine >= settings.retrieval.min_score."""
        rcfg = self.settings.retrieval
        k = rcfg.k if k is None else k
        if k <= 0 or not query.strip() and embedding is None:
            return []
        vec = self.embedder.embed_one(query) if embedding is None else embedding
        vec = np.asarray(vec, dtype=np.float32).reshape(-1)
        self._maybe_reload()
        with self._lock:  # a reload swaps these together
            loaded, bm25, row_of = self._loaded, self._bm25, self._row_of
        assert loaded is not None and bm25 is not None
        fetch = min(len(loaded.chunks), max(k * _FETCH_FACTOR, 40))
        if fetch == 0:
            return []
        hits = loaded.store.similarity_search_with_score_by_vector(vec.tolist(), k=fetch)
        rows = [row_of[doc.metadata["chunk_id"]] for doc, _ in hits]
        lexical = bm25.scores(query, rows) if self.lexical_weight and query else [0.0] * len(rows)
        top_lex = max(lexical, default=0.0) or 1.0
        ranked = sorted(
            (
                (float(cos) + self.lexical_weight * lex / top_lex, float(cos), doc)
                for (doc, cos), lex in zip(hits, lexical, strict=True)
            ),
            key=lambda item: item[0],
            reverse=True,
        )
        per_article: Counter[str] = Counter()
        out: list[Passage] = []
        for _, cos, doc in ranked:
            meta = doc.metadata
            if cos < rcfg.min_score or per_article[meta["source"]] >= MAX_PER_ARTICLE:
                continue
            per_article[meta["source"]] += 1
            out.append(
                Passage(
                    source=meta["source"],
                    title=meta["title"],
                    text=doc.page_content,
                    score=round(cos, 4),
                    chunk_id=meta["chunk_id"],
                    url=meta["url"],
                )
            )
            if len(out) == k:
                break
        return out

    async def asearch(
        self, query: str, k: int | None = None, embedding: np.ndarray | None = None
    ) -> list[Passage]:
        # FAISS and the embedder are blocking: keep them off the event loop.
        return await asyncio.to_thread(self.search, query, k, embedding)


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


class Miss(BaseModel):
    question: str
    expected: str
    got: list[str]


class RetrievalEval(BaseModel):
    questions: int
    k: int
    recall_at_1: float
    recall_at_k: float
    mrr: float
    misses: list[Miss]
    kb_version: str


def load_eval(path: Path) -> list[dict[str, Any]]:
    """Labelled retrieval questions (a pack's ``paths.retrieval_eval``)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def evaluate_retrieval(
    retriever: Retriever, path: Path, k: int = 4
) -> RetrievalEval:
    """Recall@1, recall@k and MRR over the articles of the top-k passages, on labelled questions."""
    rows = load_eval(path)
    vectors = retriever.embedder.embed([r["question"] for r in rows])
    hit1 = hitk = 0
    rr = 0.0
    misses: list[Miss] = []
    for row, vec in zip(rows, vectors, strict=True):
        # Exactly what an agent receives: the top-k passages. Articles are ranked by their
        # first passage, so two chunks of one article do not count twice.
        ranking: list[str] = []
        for p in retriever.search(row["question"], k=k, embedding=vec):
            if p.source not in ranking:
                ranking.append(p.source)
        if ranking[:1] == [row["article"]]:
            hit1 += 1
        if row["article"] in ranking:
            hitk += 1
            rr += 1.0 / (ranking.index(row["article"]) + 1)
        else:
            misses.append(Miss(question=row["question"], expected=row["article"], got=ranking))
    n = len(rows) or 1
    return RetrievalEval(
        questions=len(rows),
        k=k,
        recall_at_1=round(hit1 / n, 4),
        recall_at_k=round(hitk / n, 4),
        mrr=round(rr / n, 4),
        misses=misses,
        kb_version=retriever.kb_version,
    )
