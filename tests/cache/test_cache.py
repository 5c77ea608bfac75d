"""Semantic cache: policy, TTL, exact/semantic hits, partitions, invalidation, eviction,
persistence across processes, single-flight, clear. Real SQLite + FAISS in temp dirs, and the
same behaviour tests against the PostgreSQL + pgvector backend (skipped without a server)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from switchyard.cache import (
    CachedAnswer,
    Partition,
    cache_policy,
    is_storable,
    request_intent_key,
    user_scope,
)
from switchyard.cache.faiss_backend import FaissSemanticCache
from switchyard.core.settings import CacheSettings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def embed(sy):
    return sy.encoder.embed_one

KEY = b"test-deployment-key"


def rand_vec(seed: int, dim: int = 384) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def part(
    user: str | None = "u1",
    *,
    personal: bool = True,
    tier: str = "fast",
    kb: str = "1",
    tenant: str = "acme",
) -> Partition:
    return Partition.for_request(
        tenant=tenant,
        user_id=user,
        personal=personal,
        key=KEY,
        tier=tier,
        prompt_version="1",
        toolset_version="1",
        kb_version=kb,
    )


def answer(
    text: str,
    *,
    ttl: float = 600.0,
    complexity: str = "low",
    intent: str = "faq",
    now: float | None = None,
    body: str | None = None,
) -> CachedAnswer:
    return CachedAnswer.create(
        answer=body or f"answer to {text}",
        agent="fast",
        model="m",
        intent=intent,
        complexity=complexity,
        original_text=text,
        ttl_s=ttl,
        now=now,
    )


@pytest.fixture(params=["faiss", "postgres"])
def make_cache(request: pytest.FixtureRequest, tmp_path: Path):
    """Factory: ``make_cache(settings)`` opens another handle on the SAME storage (a second
    process or replica), for either backend."""
    opened: list = []
    if request.param == "postgres":
        from switchyard.cache.pg_backend import PgSemanticCache
        from switchyard.pg.pool import open_pool

        url = request.getfixturevalue("pg_url")
        request.getfixturevalue("pg_clean")

        def make(settings: CacheSettings | None = None):
            pool = open_pool(url, max_size=2)
            c = PgSemanticCache(pool, settings or CacheSettings(), hash_key=KEY)
            opened.append((c, pool))
            return c
    else:

        def make(settings: CacheSettings | None = None):
            c = FaissSemanticCache(tmp_path / "cache.sqlite", settings or CacheSettings(),
                                   hash_key=KEY)
            opened.append((c, None))
            return c

    yield make
    for c, pool in opened:
        c.close()
        if pool is not None:
            pool.close()


@pytest.fixture
def cache(make_cache):
    return make_cache()


# -- policy ----------------------------------------------------------------------------------


def test_policy_ttl_per_tier_and_intent_override() -> None:
    cs = CacheSettings(intent_ttl_s={"status": 30.0, "secret": None})
    low = cache_policy(
        complexity="low", intent="faq", in_scope=True, text="how do I x", settings=cs
    )
    med = cache_policy(
        complexity="medium", intent="debug", in_scope=True, text="debug x", settings=cs
    )
    high = cache_policy(complexity="high", intent="faq", in_scope=True, text="x", settings=cs)
    assert (low.cacheable, low.ttl_s) == (True, 600.0)
    assert (med.cacheable, med.ttl_s) == (True, 60.0)
    assert not high.cacheable and high.reason == "skipped: high complexity never cached"
    assert (
        cache_policy(complexity="low", intent="status", in_scope=True, text="x", settings=cs).ttl_s
        == 30.0
    )
    assert not cache_policy(
        complexity="low", intent="secret", in_scope=True, text="x", settings=cs
    ).cacheable


def test_never_cache_rules() -> None:
    cs = CacheSettings(max_cacheable_chars=50)
    long = cache_policy(complexity="low", intent="faq", in_scope=True, text="x" * 51, settings=cs)
    assert not long.cacheable and long.reason == "skipped: input too long"
    strategic = cache_policy(
        complexity="medium",
        intent="cost_optimization_strategy",
        in_scope=True,
        text="plan our move",
        settings=cs,
    )
    assert not strategic.cacheable and "strategic" in strategic.reason
    rec = cache_policy(
        complexity="low",
        intent="faq",
        in_scope=True,
        text="Which plan do you recommend for us?",
        settings=cs,
    )
    assert not rec.cacheable
    # The predicted intent won, but the classifier gives a strategic intent a real chance.
    audit = "For audit purposes, which plan features do we need to turn on?"
    unsure = {"plan_info": 0.48, "feature_recommendation": 0.25, "compliance_review": 0.04}
    maybe = cache_policy(complexity="low", intent="plan_info", in_scope=True, text=audit,
                         settings=CacheSettings(), intent_scores=unsure)
    assert not maybe.cacheable and "strategic" in maybe.reason
    sure = {"plan_info": 0.9, "feature_recommendation": 0.1}
    assert cache_policy(complexity="low", intent="plan_info", in_scope=True, text=audit,
                        settings=CacheSettings(), intent_scores=sure).cacheable
    off = cache_policy(
        complexity="low", intent="faq", in_scope=False, text="tell me a joke", settings=cs
    )
    # Cacheable, but where it is kept is decided at store time from what it was built from.
    assert off.cacheable and not hasattr(off, "force_public")
    disabled = cache_policy(
        complexity="low",
        intent="faq",
        in_scope=True,
        text="x",
        settings=CacheSettings(enabled=False),
    )
    assert not disabled.cacheable
    flags = dict(errored=False, truncated=False, refused=False, tool_failed=False, strategic=False)
    assert is_storable("fine", **flags) == (True, "stored")
    for flag in flags:
        ok, why = is_storable("fine", **{**flags, flag: True})
        assert not ok and why.startswith("not stored")
    assert not is_storable("   ", **flags)[0]


def test_store_refuses_high_complexity_expired_and_long(cache) -> None:
    p = part()
    assert not cache.store("q", rand_vec(1), p, answer("q", complexity="high"))
    assert not cache.store("q", rand_vec(1), p, answer("q", now=time.time() - 1000))
    assert not cache.store("x" * 5000, rand_vec(1), p, answer("x"))
    assert len(cache) == 0


def test_partition_never_holds_raw_user_id() -> None:
    p = part("alice@example.com")
    assert "alice" not in p.label and p.scope == user_scope("alice@example.com", KEY)
    # Keyed: another deployment's key gives another scope, and without the key the scope of a
    # short id cannot be found by hashing every candidate.
    assert user_scope("alice@example.com", b"other-key") != p.scope
    assert all(user_scope(f"u-{n:04d}", b"guess") != user_scope("u-0001", KEY) for n in range(10))
    with pytest.raises(ValueError):
        part(None, personal=True)
    with pytest.raises(ValueError):
        Partition(tenant="t", scope="user:alice", tier="fast", versions="v")
    assert part(None, personal=False).scope == "public"
    assert part(kb="7").kb_version == "7"


# -- lookups -----------------------------------------------------------------------------------


def test_ttl_expiry_per_tier_absolute(cache) -> None:
    now = time.time()
    for tier, complexity, ttl in (("fast", "low", 600.0), ("standard", "medium", 60.0)):
        p = part(tier=tier)
        q = f"question for {tier}"
        assert cache.store(
            q, rand_vec(hash(tier) % 1000), p, answer(q, ttl=ttl, complexity=complexity, now=now)
        )
        assert cache.lookup(q, rand_vec(hash(tier) % 1000), p, now=now + ttl - 1).hit
        # A hit does not slide the expiry: one second past the absolute expiry is a miss.
        v = cache.lookup(q, rand_vec(hash(tier) % 1000), p, now=now + ttl + 1)
        assert not v.hit and "expired" in v.reason


def test_exact_then_semantic_then_guard(cache, embed) -> None:
    # The mechanics at an explicit threshold (the shipped default is tested on real pairs).
    p, t = part(), 0.82
    q = "How do I enable SSO for my workspace?"
    cache.store(q, embed(q), p, answer(q))
    exact = cache.lookup("  how do i ENABLE sso for my workspace ", embed("x"), p)
    assert exact.hit and exact.match == "exact" and exact.similarity == 1.0
    sem = cache.lookup(
        "For my workspace, how do I enable SSO?",
        embed("For my workspace, how do I enable SSO?"),
        p,
        threshold=t,
    )
    assert sem.hit and sem.match == "semantic" and sem.similarity >= t
    neg = cache.lookup(
        "How do I disable SSO for my workspace?",
        embed("How do I disable SSO for my workspace?"),
        p,
        threshold=t,
    )
    assert not neg.hit and neg.reason.startswith("guard: opposite meaning")
    q2, typo = "How do I reset my password?", "how do i reset my pasword"
    cache.store(q2, embed(q2), p, answer(q2))
    typo_hit = cache.lookup(typo, embed(typo), p)  # cosine ~0.61: only the spelling path can hit
    assert typo_hit.hit and typo_hit.match == "exact" and "spelling" in typo_hit.reason
    assert typo_hit.similarity < t


def test_spelling_is_strict_until_a_vocabulary_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the model package and before an encoder opened there is no vocabulary: no typo is
    forgiven then, and that strict answer is not kept once the encoder's vocabulary is known."""
    from switchyard.cache import guard
    from switchyard.encoder import onnx_encoder

    real = onnx_encoder.wordpiece_words
    guard._found_vocabulary.cache_clear()
    monkeypatch.setattr(onnx_encoder, "wordpiece_words", lambda: None)
    assert not guard.is_spelling_variant("pasword", "password")
    monkeypatch.setattr(onnx_encoder, "wordpiece_words", real)
    assert guard.is_spelling_variant("pasword", "password")
    assert not guard.is_spelling_variant("lock", "block")  # two words: not a typo


@pytest.mark.parametrize(
    ("stored", "query", "why"),
    [
        ("Can you refund invoice 1042?", "Can you refund invoice 1043?", "numbers differ"),
        (
            "Why was I charged $49 this month?",
            "Why was I charged $59 this month?",
            "numbers differ",
        ),
        ("Can I get my invoice for March?", "Can I get my invoice for April?", "dates differ"),
        ("What does error WH-401 mean?", "What does error WH-404 mean?", "ids differ"),
        (
            "How do I connect Salesforce to Quillstack?",
            "How do I connect HubSpot to Quillstack?",
            "entities differ",
        ),
        (
            "Send the invoice to billing@acme.com",
            "Send the invoice to finance@acme.com",
            "ids differ",
        ),
        (
            "How do I connect Attio to Quillstack?",
            "How do I connect Copper to Quillstack?",
            "entity ",
        ),
        ("Why is my webhook firing?", "Why is my webhook not firing?", "negation"),
        ("How do I upgrade my plan?", "How do I downgrade my plan?", "opposite meaning"),
        (
            "How do I add a user to my workspace?",
            "How do I remove a user from my workspace?",
            "opposite meaning",
        ),
        ("How do I cancel my subscription?", "How do I renew my subscription?", "opposite meaning"),
        ("How do I reset my password?", "How do I reset a teammate's password?", "subject"),
        (
            "What do customers in their forties ask about SSO?",
            "What do customers in their fifties ask about SSO?",
            "numbers differ",
        ),
    ],
)
def test_guard_blocks_near_misses(
    cache, embed, stored: str, query: str, why: str
) -> None:
    p = part()
    cache.store(stored, embed(stored), p, answer(stored))
    v = cache.lookup(query, embed(query), p, threshold=0.0)  # similarity alone would hit
    assert not v.hit and why in v.reason, v.reason


def test_partition_isolation(cache, embed) -> None:
    q = "What's my current balance?"
    cache.store(q, embed(q), part("alice"), answer(q, body="alice owes $10"))
    for other in (
        part("bob"),
        part(None, personal=False),
        part("alice", tier="standard"),
        part("alice", kb="2"),
        part("alice", tenant="globex"),
    ):
        v = cache.lookup(q, embed(q), other, threshold=0.0)
        assert not v.hit and v.answer is None
    assert cache.lookup(q, embed(q), part("alice")).answer.answer == "alice owes $10"


def test_invalidate_public_on_kb_change(cache, embed) -> None:
    q = "How do I enable SSO?"
    cache.store(q, embed(q), part(None, personal=False, kb="1"), answer(q))
    cache.store(q, embed(q), part(None, personal=False, kb="2"), answer(q))
    cache.store(q, embed(q), part("u9", kb="1"), answer(q))
    assert cache.invalidate_public("2") == 1
    assert not cache.lookup(q, embed(q), part(None, personal=False, kb="1")).hit
    assert cache.lookup(q, embed(q), part(None, personal=False, kb="2")).hit
    assert cache.lookup(q, embed(q), part("u9", kb="1")).hit  # user partitions untouched


def test_eviction_by_count_soonest_expiry_first(make_cache) -> None:
    c = make_cache(CacheSettings(max_entries=5))
    p = part()
    for i in range(8):  # ttl grows with i: entries 0..2 expire soonest
        c.store(f"question {i}", rand_vec(i), p, answer(f"question {i}", ttl=100.0 + i))
    assert len(c) == 5 and c.stats()["counters"]["evictions"] == 3
    assert not c.lookup("question 0", rand_vec(0), p).hit
    assert c.lookup("question 7", rand_vec(7), p).hit
    c.close()


def test_eviction_by_bytes(make_cache) -> None:
    c = make_cache(CacheSettings(max_bytes=12_000))
    p = part()
    for i in range(20):
        c.store(f"q{i}", rand_vec(i), p, answer(f"q{i}", ttl=100.0 + i, body="x" * 1000))
    s = c.stats()
    assert s["bytes"] <= 12_000 and 0 < s["entries"] < 20
    assert c.lookup("q19", rand_vec(19), p).hit
    c.close()


def test_expired_entries_purged_on_store(cache) -> None:
    p = part()
    cache.store("old", rand_vec(1), p, answer("old", ttl=0.2))
    time.sleep(0.3)
    cache.store("new", rand_vec(2), p, answer("new"))
    assert len(cache) == 1 and cache.stats()["counters"]["expired_purged"] >= 1


def test_clear_by_user_and_intent(cache) -> None:
    cache.store("a", rand_vec(1), part("u1"), answer("a", intent="billing"))
    cache.store("b", rand_vec(2), part("u1"), answer("b", intent="faq"))
    cache.store("c", rand_vec(3), part("u2"), answer("c", intent="billing"))
    assert cache.clear(user_id="u1", intent="billing") == 1
    assert cache.clear(intent="billing") == 1
    assert cache.clear(user_id="u1") == 1
    assert len(cache) == 0


def test_stats_counts(cache) -> None:
    cache.store("a", rand_vec(1), part("u1"), answer("a"))
    cache.store("b", rand_vec(2), part(None, personal=False), answer("b"))
    cache.lookup("a", rand_vec(1), part("u1"))
    cache.lookup("zzz", rand_vec(9), part("u1"))
    s = cache.stats()
    assert s["entries"] == 2 and s["partitions"] == 2
    assert s["public"]["entries"] == 1 and s["user"]["partitions"] == 1
    assert s["counters"]["hits_exact"] == 1 and s["counters"]["misses"] == 1
    assert "u1" not in json.dumps(s)


# -- persistence and multiple processes -----------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from switchyard.cache import CachedAnswer, Partition
    from switchyard.cache.faiss_backend import FaissSemanticCache
    path, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    c = FaissSemanticCache(path)
    p = Partition.for_request(tenant="t", user_id=None, personal=False, tier="fast",
                              prompt_version=1, toolset_version=1, kb_version=1)
    rng = np.random.default_rng(abs(hash(prefix)) % 2**32)
    for i in range(n):
        v = rng.standard_normal(384).astype("float32"); v /= np.linalg.norm(v)
        a = CachedAnswer.create(answer=f"{prefix}-{i}", agent="fast", model="m", intent="faq",
                                complexity="low", original_text=f"{prefix} question {i}", ttl_s=600)
        assert c.store(f"{prefix} question {i}", v, p, a)
    c.close()
    """
)


def _run(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_persistence_and_concurrent_writers_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    reader = FaissSemanticCache(path)  # opened before the writers: must catch up by itself
    procs = [_run(str(path), "alpha", "150"), _run(str(path), "beta", "150")]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    p = Partition.for_request(
        tenant="t",
        user_id=None,
        personal=False,
        tier="fast",
        prompt_version=1,
        toolset_version=1,
        kb_version=1,
    )
    v = reader.lookup("beta question 7", rand_vec(0), p)
    assert v.hit and v.answer.answer == "beta-7"
    assert len(reader) == 300
    reader.close()
    fresh = FaissSemanticCache(path)  # a "restart" keeps valid entries
    assert len(fresh) == 300 and fresh.lookup("alpha question 149", rand_vec(0), p).hit
    fresh.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT n FROM totals").fetchone()[0] == 300


def test_other_process_clear_is_seen(make_cache) -> None:
    a, b = make_cache(), make_cache()
    p = part()
    a.store("q", rand_vec(1), p, answer("q"))
    assert b.lookup("q", rand_vec(1), p).hit
    a.clear()
    assert not b.lookup("q", rand_vec(1), p).hit
    a.close()
    b.close()


# -- single-flight ------------------------------------------------------------------------------


async def test_single_flight_one_leader_followers_hit(cache) -> None:
    p = part()
    q, vec = "What's my current balance?", rand_vec(5)
    calls = 0

    async def request() -> bool:
        nonlocal calls
        v = await cache.alookup(q, vec, p)
        if v.hit:
            return True
        ticket = await cache.acquire_flight(q, p)
        try:
            if not ticket.leader:
                return (await cache.alookup(q, vec, p)).hit
            calls += 1
            await asyncio.sleep(0.1)  # the model call
            stored = await cache.astore(q, vec, p, answer(q))
        except BaseException:
            cache.release_flight(ticket.key, ticket.token, False)
            raise
        cache.release_flight(ticket.key, ticket.token, stored)
        return False

    results = await asyncio.gather(*(request() for _ in range(10)))
    assert calls == 1
    assert sum(results) == 9  # every follower got the leader's answer


async def test_single_flight_leader_failure_releases_followers(cache) -> None:
    p = part()
    leader = await cache.acquire_flight("q", p)
    assert leader.leader
    followers = [asyncio.create_task(cache.acquire_flight("q", p)) for _ in range(3)]
    await asyncio.sleep(0.01)
    cache.release_flight(leader.key, leader.token, False)  # the model call failed
    tickets = await asyncio.wait_for(asyncio.gather(*followers), 2)
    assert all(not t.leader and t.leader_stored is False for t in tickets)
    assert (await cache.acquire_flight("q", p)).leader  # the flight is gone


async def test_single_flight_lease_bounds_a_dead_leader(cache) -> None:
    cache.single_flight_timeout_s = 0.05
    p = part()
    dead = await cache.acquire_flight("q", p)  # a leader that never releases
    follower = await cache.acquire_flight("q", p)
    assert follower.timed_out and not follower.leader and follower.waited_s < 1.0
    # The lease has run out: the next request leads at once instead of waiting again.
    successor = await asyncio.wait_for(cache.acquire_flight("q", p), 0.5)
    assert successor.leader and successor.token != dead.token
    # The dead leader's late release is stale and must not end its successor's flight.
    assert cache.release_flight(dead.key, dead.token, True) is False
    assert cache.release_flight(successor.key, successor.token, True) is True


async def test_single_flight_release_from_a_worker_thread(cache) -> None:
    cache.single_flight_timeout_s = 5
    p = part()
    leader = await cache.acquire_flight("q", p)
    waiting = asyncio.create_task(cache.acquire_flight("q", p))
    await asyncio.sleep(0.01)
    # A sync node releases from a worker thread: the wake-up is handed to the owning loop.
    await asyncio.to_thread(cache.release_flight, leader.key, leader.token, True)
    assert (await asyncio.wait_for(waiting, 2)).leader_stored is True


def test_large_partitions_switch_to_hnsw_and_honour_deletes(tmp_path: Path) -> None:
    c = FaissSemanticCache(
        tmp_path / "c.sqlite", CacheSettings(hnsw_min_entries=16, max_entries=40)
    )
    p = part(None, personal=False)
    for i in range(60):  # crosses the HNSW switch, then evicts the 20 soonest-expiring entries
        c.store(
            f"question number {i}", rand_vec(i), p, answer(f"question number {i}", ttl=100.0 + i)
        )
    pidx = c._parts[p.label]
    assert pidx.hnsw and len(c) == 40
    assert not c.lookup("question number 3 pls", rand_vec(3), p, threshold=0.0).hit  # evicted
    v = c.lookup("question number 55 pls", rand_vec(55), p, threshold=0.99)
    assert v.hit and v.answer.original_text == "question number 55"
    c.clear()
    assert not c.lookup("question number 55 pls", rand_vec(55), p, threshold=0.0).hit
    c.close()


def test_intent_key_entries_on_both_backends(make_cache, embed) -> None:
    """The graph's keyed store and lookup, on the embedded cache and on Postgres (where a key
    row also carries the request's embedding): exact per user, slot and tier; never shared; a
    restart (another handle) finds it; it expires and clears like any entry."""
    cache = make_cache()
    q = "What's my balance?"
    key = request_intent_key("account_balance", q, CacheSettings(), {"account_balance": 0.95})
    assert key is not None
    assert cache.store_key(key, part("u1"), answer(q, intent="account_balance"), embed(q))
    again = make_cache()
    hit = again.lookup_key(key, part("u1"))
    assert hit.hit and hit.match == "key" and hit.answer.original_text == q
    assert not again.lookup_key(key, part("u2")).hit
    assert not again.lookup_key(key, part("u1", tier="standard")).hit
    last_month = request_intent_key("account_balance", "What was my balance last month?",
                                    CacheSettings(), {"account_balance": 0.95})
    assert last_month is not None and last_month != key
    assert not again.lookup_key(last_month, part("u1")).hit
    with pytest.raises(ValueError):
        again.store_key(key, part(None, personal=False), answer(q), embed(q))
    assert again.lookup_key(key, part("u1"), now=time.time() + 601).reason == "miss: entry expired"
    assert again.clear(intent="account_balance") >= 1
    assert not again.lookup_key(key, part("u1")).hit


def test_request_intent_key_only_for_confident_fact_questions() -> None:
    s = CacheSettings()
    sure = {"account_balance": 0.95}
    assert request_intent_key("account_balance", "How much do I owe?", s, sure) == \
        request_intent_key("account_balance", "what's my balance", s, sure)
    assert request_intent_key("account_balance", "How do I pay my balance?", s, sure) is None
    assert request_intent_key("account_balance", "Why is my balance so high?", s, sure) is None
    assert request_intent_key("account_balance", "What's my balance?", s,
                              {"account_balance": 0.6}) is None
    assert request_intent_key("billing_faq", "What's my balance?", s, {"billing_faq": 0.99}) is None
    assert request_intent_key("account_balance", "What's my colleague's balance?", s, sure) != \
        request_intent_key("account_balance", "What's my balance?", s, sure)
    off = CacheSettings(keyed_intents=[])
    assert request_intent_key("account_balance", "What's my balance?", off, sure) is None


def test_setup_drops_stale_public_answers_from_the_deployments_cache(
    make_cache, embed, sy
) -> None:
    """Setup invalidates the cache the front door uses (a host's own cache, when handed in)."""
    from support.front_door import variant

    cache = make_cache()
    q = "How do I enable SSO?"
    stale = part(None, personal=False, kb="stale")
    cache.store(q, embed(q), stale, answer(q))
    report = variant(sy, cache=cache).setup()
    assert report.cache_invalidated >= 1
    assert not cache.lookup(q, embed(q), stale).hit


def test_the_cache_backend_is_chosen_once_by_the_settings(sy, tmp_path) -> None:
    """With a database URL the front door's cache is the shared one, never the home's embedded
    file; without one, the embedded cache under the home."""
    from switchyard.app import Switchyard
    from switchyard.cache import open_cache
    from switchyard.cache.faiss_backend import FaissSemanticCache

    home = sy.settings.model_copy(update={"home": tmp_path / "home"})
    embedded = open_cache(home)
    try:
        assert isinstance(embedded, FaissSemanticCache)
        assert Path(embedded.stats()["path"]).parent == home.cache_dir
    finally:
        embedded.close()
    with_db = home.model_copy(update={"database_url": "postgresql://127.0.0.1:1/none"})
    with pytest.raises(ValueError, match="PostgreSQL pools"):
        open_cache(with_db)  # never silently the embedded one
    with pytest.raises(Exception, match="cannot connect to PostgreSQL"):
        Switchyard(with_db).cache  # noqa: B018 - the shared cache, or a clear error
