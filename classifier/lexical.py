"""Word and word-pair TF-IDF features for the local classifier's lexical heads.

Sentence embeddings blur the words that decide a route ("migrate", "for 3,000 employees",
"restaurant"); a linear model over word unigrams + bigrams keeps them. Cross-validated on
train+dev, mixing it into the embedding heads raised high recall and cut over-routing to the
expert (scripts/tune_classifier.py).

Fitting uses scikit-learn's ``TfidfVectorizer``; inference is this module's re-implementation of
the same analyzer (lower-case, ``\\b\\w\\w+\\b`` tokens, 1-2 grams, sublinear tf, l2 norm), so the
fitted vocabulary is stored as plain JSON and loading never unpickles anything. A test checks that
both produce the same vectors.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
NGRAMS = (1, 2)


def analyze(text: str) -> list[str]:
    """The n-grams scikit-learn's word analyzer yields for ``text`` (same order)."""
    tokens = _TOKEN.findall(text.lower())
    grams: list[str] = []
    for n in range(NGRAMS[0], NGRAMS[1] + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


@dataclass
class Lexicon:
    """A fitted TF-IDF vocabulary: term -> column, and each column's idf."""

    terms: list[str]
    idf: np.ndarray

    def __post_init__(self) -> None:
        self._index = {t: i for i, t in enumerate(self.terms)}

    @classmethod
    def fit(cls, texts: Sequence[str]) -> Lexicon:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(ngram_range=NGRAMS, sublinear_tf=True).fit(texts)
        terms = [""] * len(vec.vocabulary_)
        for term, col in vec.vocabulary_.items():
            terms[col] = term
        return cls(terms, vec.idf_.astype(np.float32))

    def __len__(self) -> int:
        return len(self.terms)

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, l2-normalised tf-idf values) of the terms of ``text`` in the vocabulary."""
        counts = Counter(g for g in analyze(text) if g in self._index)
        if not counts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        cols = np.fromiter((self._index[g] for g in counts), np.int64, len(counts))
        vals = (1.0 + np.log(np.fromiter(counts.values(), np.float32, len(counts)))) * self.idf[cols]
        return cols, (vals / np.linalg.norm(vals)).astype(np.float32)

    def sparse(self, texts: Sequence[str]) -> csr_matrix:
        """(n, V) tf-idf matrix in CSR form, for fitting and tests (inference uses :meth:`logits`)."""
        from scipy.sparse import csr_matrix

        vecs = [self.vector(t) for t in texts]
        indptr = np.cumsum([0] + [len(c) for c, _ in vecs])
        cols = np.concatenate([c for c, _ in vecs]) if vecs else np.zeros(0, np.int64)
        vals = np.concatenate([v for _, v in vecs]) if vecs else np.zeros(0, np.float32)
        return csr_matrix((vals, cols, indptr), shape=(len(texts), len(self.terms)))

    def logits(self, texts: Sequence[str], heads: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """``X @ W.T + b`` for each (W, b) head without materialising X: each text's vector is
        computed once and only its few present columns are read."""
        outs = [np.tile(b.astype(np.float32), (len(texts), 1)) for _, b in heads]
        for i, t in enumerate(texts):
            cols, vals = self.vector(t)
            if len(cols):
                for out, (W, _) in zip(outs, heads, strict=True):
                    out[i] += W[:, cols] @ vals
        return outs
