"""The lexical heads' TF-IDF re-implementation matches scikit-learn's, so a saved vocabulary
(plain JSON) reproduces at inference exactly what the heads were fitted on."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from switchyard.classifier.lexical import Lexicon, analyze

TRAIN = [
    "I forgot my password",
    "How do I reset my password?",
    "Plan our migration of 3,000 employees from Google Workspace",
    "Migrate 10K users from our old system: what's the best approach?",
    "What's my account balance?",
    "Webhook deliveries fail with WH-401, help me debug",
]
PROBES = [
    *TRAIN,
    "password password PASSWORD reset",  # repeated terms: sublinear tf
    "Straße ÜBER café",  # unicode, all out of vocabulary
    "",  # empty
    "a I ?",  # no token of two or more characters
    "migrate the balance of 10K users",
]


def test_analyzer_matches_scikit_learn() -> None:
    sk = TfidfVectorizer(ngram_range=(1, 2)).build_analyzer()
    for text in PROBES:
        assert analyze(text) == sk(text)


def test_vectors_match_scikit_learn() -> None:
    lex = Lexicon.fit(TRAIN)
    sk = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(TRAIN)
    assert lex.terms == sorted(sk.vocabulary_, key=sk.vocabulary_.get)
    np.testing.assert_allclose(lex.sparse(PROBES).toarray(), sk.transform(PROBES).toarray(), atol=1e-6)


def test_logits_equal_the_dense_product() -> None:
    lex = Lexicon.fit(TRAIN)
    rng = np.random.default_rng(0)
    heads = [(rng.normal(size=(3, len(lex))).astype(np.float32), rng.normal(size=3).astype(np.float32)),
             (rng.normal(size=(5, len(lex))).astype(np.float32), np.zeros(5, np.float32))]
    x = lex.sparse(PROBES).toarray()
    for got, (W, b) in zip(lex.logits(PROBES, heads), heads, strict=True):
        np.testing.assert_allclose(got, x @ W.T + b, rtol=1e-5, atol=1e-5)
    # A text with no known term gets exactly the bias.
    np.testing.assert_array_equal(lex.logits(["zzz qqq"], heads[:1])[0][0], heads[0][1])


@pytest.mark.parametrize("text", ["x" * 100_000, "\x00\x01 <script>alert(1)</script>", "🙂" * 50])
def test_hostile_text_is_harmless(text: str) -> None:
    lex = Lexicon.fit(TRAIN)
    cols, vals = lex.vector(text)
    assert len(cols) == len(vals)
    assert np.all(np.isfinite(vals))
