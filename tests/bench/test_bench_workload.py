"""The bench workload: the article's mix, deterministic, repeats only within the cache TTLs."""

from __future__ import annotations

import pytest

from switchyard.bench.workload import (
    LabelledRow,
    RepeatRates,
    build_workload,
    load_rows,
    parse_mix,
)
from switchyard.core.settings import Settings

SETTINGS = Settings()

USERS = [f"u-{i:04d}" for i in range(1, 301)]


@pytest.fixture(scope="module")
def rows() -> list[LabelledRow]:
    return load_rows(SETTINGS.routing_data_dir / "test.jsonl")


def test_mix_matches_the_requested_shares_exactly(rows):
    wl = build_workload(200, settings=SETTINGS, rows=rows, users=USERS, seed=1)
    assert wl.summary()["counts"] == {"low": 130, "medium": 60, "high": 10}
    wl = build_workload(100, settings=SETTINGS, mix=parse_mix("0.5,0.3,0.2"), rows=rows, users=USERS, seed=1)
    assert wl.summary()["counts"] == {"low": 50, "medium": 30, "high": 20}


def test_same_seed_same_workload_other_seed_other_workload(rows):
    a = build_workload(150, settings=SETTINGS, rows=rows, users=USERS, seed=42)
    b = build_workload(150, settings=SETTINGS, rows=rows, users=USERS, seed=42)
    c = build_workload(150, settings=SETTINGS, rows=rows, users=USERS, seed=43)
    assert a.requests == b.requests
    assert a.requests != c.requests


def test_requests_come_from_the_held_out_split_and_many_users(rows):
    wl = build_workload(300, settings=SETTINGS, rows=rows, users=USERS, seed=3)
    texts = {r.text for r in rows}
    assert all(r.text in texts for r in wl.requests)
    assert wl.summary()["users"] > 150


def test_repeats_point_back_within_the_ttl_and_keep_their_meaning(rows):
    wl = build_workload(400, settings=SETTINGS, rows=rows, users=USERS, seed=5,
                        repeat_rates=RepeatRates(same_user=0.2, other_user=0.15, paraphrase=0.15))
    ttl = SETTINGS.cache.ttl_s
    kinds = wl.summary()["kinds"]
    assert min(kinds.values()) > 10, kinds
    by_idx = {r.idx: r for r in wl.requests}
    assert [r.ts for r in wl.requests] == sorted(r.ts for r in wl.requests)
    for r in wl.requests:
        if r.kind == "fresh":
            assert r.source_idx is None
            continue
        src = by_idx[r.source_idx]
        assert src.idx < r.idx and src.complexity == r.complexity
        window = ttl.get(r.complexity) or ttl["low"]
        if r.kind == "repeat_same_user":
            assert (r.text, r.user_id) == (src.text, src.user_id)
        elif r.kind == "repeat_other_user":
            assert r.text == src.text and r.user_id != src.user_id
        else:
            assert r.intent == src.intent and r.text != src.text
        assert r.ts - src.ts <= window, "a repeat must fall within its TTL"


def test_oracle_tier_follows_the_true_label_and_deflects_off_topic(rows):
    wl = build_workload(200, settings=SETTINGS, rows=rows, users=USERS, seed=9)
    for r in wl.requests:
        expected = "fast" if not r.in_scope else {"low": "fast", "medium": "standard", "high": "expert"}[r.complexity]
        assert r.oracle_tier == expected


@pytest.mark.parametrize("raw", ["0.5,0.5", "a,b,c", "-1,1,1", "0,0,0"])
def test_bad_mix_is_rejected(raw):
    with pytest.raises(ValueError):
        parse_mix(raw)


def test_mix_may_be_given_in_percent():
    assert parse_mix("65,30,5") == pytest.approx((0.65, 0.30, 0.05))
