"""Adversarial cross-user leak test on the real cache (SQLite + FAISS + real embeddings).

Users of one tenant each cache answers to personal questions ("what's my balance"); other users
then ask the same questions, paraphrased, in their own partitions (the graph keeps every answer
built from account data in the asker's ``Partition.for_request(personal=True)``). Any answer
served to a user that is not that user's own is a leak.
"""

from __future__ import annotations

from pathlib import Path

from switchyard.cache import CachedAnswer, Partition, cache_policy
from switchyard.cache.faiss_backend import FaissSemanticCache
from switchyard.core.settings import CacheSettings

PERSONAL = [
    (
        "What's my current balance?",
        [
            "whats my balance",
            "How much do I owe right now?",
            "what is my account balance",
            "my balance?",
        ],
    ),
    (
        "When is my next invoice due?",
        [
            "when's my next invoice due",
            "My next invoice, when is it due?",
            "due date of my next invoice?",
        ],
    ),
    (
        "Which plan am I on?",
        ["what plan am i on", "How do I see which plan I'm on?", "which plan is my workspace on"],
    ),
    (
        "How many seats do we have?",
        ["how many seats do we have", "How many seats are on our account?", "our seat count?"],
    ),
    (
        "Why was I charged twice?",
        ["why was i charged twice", "I was charged twice, why?", "double charge on my card why"],
    ),
    (
        "What's my API usage this month?",
        ["whats my api usage this month", "How much API usage do I have this month?"],
    ),
    ("Show my last invoice", ["show me my last invoice", "my most recent invoice please"]),
    ("Is my account locked?", ["is my account locked", "am I locked out of my account?"]),
    (
        "What email is on my account?",
        ["what email is on my account", "which email address does my account use?"],
    ),
    (
        "How many workflow runs have I used?",
        ["how many workflow runs have i used", "my workflow run usage?"],
    ),
]
USERS = [f"user-{i:03d}@acme.example" for i in range(40)]


def _partition(user: str, text: str) -> Partition:
    # The graph stores every answer built from account data in the asker's own partition.
    return Partition.for_request(
        tenant="acme",
        user_id=user,
        personal=True,
        key=b"leak-test-key",
        tier="fast",
        prompt_version=1,
        toolset_version=1,
        kb_version=1,
    )


def test_no_cross_user_leaks(tmp_path: Path, sy) -> None:
    settings = CacheSettings()
    cache = FaissSemanticCache(tmp_path / "leak.sqlite", settings)
    texts = sorted({t for q, ps in PERSONAL for t in (q, *ps)})
    vec = dict(zip(texts, sy.encoder.embed(texts), strict=True))
    owners = USERS[: len(USERS) // 2]  # half the users cache answers; the other half never do
    for u in owners:
        for q, _ in PERSONAL:
            pol = cache_policy(
                complexity="low", intent="account_lookup", in_scope=True, text=q, settings=settings
            )
            assert pol.cacheable
            ans = CachedAnswer.create(
                answer=f"SECRET[{u}] {q}",
                agent="fast",
                model="m",
                intent="account_lookup",
                complexity="low",
                original_text=q,
                ttl_s=pol.ttl_s,
            )
            assert cache.store(q, vec[q], _partition(u, q), ans)

    probes = leaks = own_hits = 0
    for u in USERS:
        for q, paraphrases in PERSONAL:
            for text in (q, *paraphrases):
                probes += 1
                # Adversarial: also probe with the threshold disabled (similarity alone).
                for threshold in (None, 0.0):
                    v = cache.lookup(text, vec[text], _partition(u, text), threshold=threshold)
                    if v.hit:
                        if f"SECRET[{u}]" not in v.answer.answer:
                            leaks += 1
                        else:
                            own_hits += 1
                    if u not in owners:
                        assert not v.hit, (u, text, v.reason)
    assert probes >= 1000, probes
    assert leaks == 0
    assert own_hits > 0  # sanity: owners do get their own answers back
    cache.close()
