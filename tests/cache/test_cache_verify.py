"""The same-question check after the similarity search, per-tier/intent thresholds, intent keys,
and the project's hand-written pairs at the shipped defaults."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from switchyard.cache import CachedAnswer, Partition, intent_key
from switchyard.cache.calibration import PairOutcome, figures, read_pairs, run_pairs
from switchyard.cache.faiss_backend import FaissSemanticCache
from switchyard.cache.verify import same_question_conflict
from switchyard.core.settings import CacheSettings

REPO = Path(__file__).resolve().parents[2]


def part(user: str | None = "u1", *, tier: str = "fast") -> Partition:
    return Partition.for_request(
        tenant="acme",
        user_id=user,
        personal=user is not None,
        key=b"test-verify",
        tier=tier,
        prompt_version="1",
        toolset_version="1",
        kb_version="1",
    )


def answer(text: str, *, intent: str = "faq", ttl: float = 600.0, now: float | None = None):
    return CachedAnswer.create(
        answer=f"answer to {text}",
        agent="fast",
        model="m",
        intent=intent,
        complexity="low",
        original_text=text,
        ttl_s=ttl,
        now=now,
    )


def vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize(
    ("query", "cached", "why"),
    [
        ("Why did my webhook delivery fail?", "When did my webhook delivery fail?", "focus"),
        ("How much does the Team plan cost?", "Why does the Team plan cost that?", "focus"),
        ("Who can export the audit log?", "How can I export the audit log?", "focus"),
        (
            "Does Salesforce sync contacts to HubSpot?",
            "Does HubSpot sync contacts to Salesforce?",
            "roles swapped",
        ),
        ("Which dog breeds are best for kids?", "Which dog breeds are worst for kids?", "opposite"),
        ("Arguments for remote work?", "Arguments against remote work?", "opposite"),
    ],
)
def test_same_question_check_rejects_different_questions(query: str, cached: str, why: str) -> None:
    reason = same_question_conflict(query, cached)
    assert reason is not None and why in reason, reason


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("For my workspace, how do I enable SSO?", "How do I enable SSO for my workspace?"),
        ("Is SAML supported by Quillstack?", "Does Quillstack support SAML?"),
        ("What's the best way to export my data?", "How do I export my data?"),
        ("Where can I see my invoices?", "How do I see my invoices?"),
        (
            "When I add users mid-month, how are seats billed?",
            "How are seats billed when I add users mid-month?",
        ),
        ("What does error WH-401 mean?", "What is the meaning of the WH-401 error?"),
    ],
)
def test_same_question_check_keeps_paraphrases(query: str, cached: str) -> None:
    assert same_question_conflict(query, cached) is None


def test_lookup_runs_the_check_after_the_guard_and_it_can_be_turned_off(tmp_path: Path) -> None:
    stored, query = "Why did my webhook delivery fail?", "When did my webhook delivery fail?"
    on = FaissSemanticCache(None, CacheSettings())
    off = FaissSemanticCache(None, CacheSettings(verify_same_question=False))
    try:
        for cache in (on, off):
            cache.store(stored, vec(1), part(), answer(stored))
        v = on.lookup(query, vec(1), part(), threshold=0.5)
        assert not v.hit and v.reason.startswith("verify: question focus differs"), v.reason
        assert on.stats()["counters"]["verify_rejections"] == 1
        assert off.lookup(query, vec(1), part(), threshold=0.5).hit
    finally:
        on.close()
        off.close()


def test_threshold_overrides_by_tier_then_intent() -> None:
    s = CacheSettings(
        similarity_threshold=0.96,
        tier_similarity_threshold={"standard": 0.98},
        intent_similarity_threshold={"password_reset": 0.9},
    )
    assert s.threshold_for("fast", "faq") == 0.96
    assert s.threshold_for("standard", "faq") == 0.98
    assert s.threshold_for("standard", "password_reset") == 0.9
    cache = FaissSemanticCache(None, s)
    try:
        q = "How do I reset my password?"
        v = vec(2)
        near = v + 0.45 * vec(3)  # cosine ~0.91 with v
        near /= np.linalg.norm(near)
        sim = float(v @ near)
        assert 0.9 <= sim < 0.96, sim
        for tier in ("fast", "standard"):
            cache.store(q, v, part(tier=tier), answer(q))
        ask = "Can I reset my password?"
        assert not cache.lookup(ask, near, part()).hit  # default 0.96
        assert cache.lookup(ask, near, part(), intent="password_reset").hit  # intent's 0.90
        assert not cache.lookup(ask, near, part(tier="standard")).hit  # tier's 0.98
    finally:
        cache.close()


def test_intent_key_entries_hit_exactly_per_user_and_slot() -> None:
    cache = FaissSemanticCache(None, CacheSettings())
    try:
        key = intent_key("account_balance")
        assert key == intent_key(" Account_Balance ", {})
        assert cache.store_key(
            key, part("u1"), answer("What's my balance?", intent="account_balance")
        )
        hit = cache.lookup_key(intent_key("account_balance"), part("u1"))
        assert hit.hit and hit.match == "key" and hit.answer.original_text == "What's my balance?"
        assert not cache.lookup_key(key, part("u2")).hit  # another user's partition
        # Never found by text or by vector search: only by the key.
        assert not cache.lookup("What's my balance?", vec(5), part("u1"), threshold=-1.0).hit

        inv = intent_key("invoice_status", {"invoice": "INV-1042"})
        assert inv == intent_key("invoice_status", {"invoice": " inv-1042 ", "unused": None})
        cache.store_key(
            inv, part("u1"), answer("Is invoice INV-1042 paid?", intent="invoice_status")
        )
        assert cache.lookup_key(inv, part("u1")).hit
        assert not cache.lookup_key(
            intent_key("invoice_status", {"invoice": "INV-1043"}), part("u1")
        ).hit
        assert not cache.lookup_key(intent_key("invoice_status"), part("u1")).hit

        later = time.time() + 601
        assert cache.lookup_key(key, part("u1"), now=later).reason == "miss: entry expired"
        assert cache.clear(intent="account_balance") == 1
        assert not cache.lookup_key(key, part("u1")).hit
        assert cache.stats()["counters"]["hits_key"] == 2
    finally:
        cache.close()


def test_intent_keys_refuse_public_partitions_and_bad_input() -> None:
    cache = FaissSemanticCache(None, CacheSettings())
    try:
        with pytest.raises(ValueError, match="user's partition"):
            cache.store_key(intent_key("account_balance"), part(None), answer("balance?"))
        with pytest.raises(ValueError, match="intent_key"):
            cache.store_key("account_balance", part("u1"), answer("balance?"))
    finally:
        cache.close()
    for bad in ("", "account balance", "x\x1fy"):
        with pytest.raises(ValueError, match="invalid intent"):
            intent_key(bad)
    with pytest.raises(ValueError, match="invalid cache key slot"):
        intent_key("invoice_status", {"invoice": "  "})


def test_hand_written_pairs_give_zero_false_hits_at_the_defaults(sy) -> None:
    outcomes = [
        o
        for o in run_pairs(
            read_pairs(REPO / "switchyard" / "domains" / "quillstack" / "cache" / "cache_pairs.jsonl", need_label=True), CacheSettings(),
            embed=sy.encoder.embed,
        )
        if isinstance(o, PairOutcome)
    ]
    assert len(outcomes) == 657
    at_default = figures(outcomes, CacheSettings().similarity_threshold)
    assert at_default.negatives == 354 and at_default.false_hits == 0
    # The lookup's own verdicts agree with the calibration arithmetic.
    assert sum(o.hit for o in outcomes if o.label == 1) == at_default.true_hits
    assert at_default.true_hits > 0
