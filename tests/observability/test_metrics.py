"""Metrics are the requests' own records, summed; labels never name a user, tenant or text.

Requests go through the front door (``Switchyard.aask``) and the service's ``ChatService`` on the
session's prepared home, offline. The exposition is parsed with prometheus-client's own parser.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.front_door import variant

from switchyard.observability.metrics import histogram_quantile
from switchyard.record import RoutingRecord

pytestmark = pytest.mark.integration

FAST_Q = "I forgot my password"
STANDARD_Q = "Help me debug this system error: webhook deliveries fail with 401"
EXPERT_Q = "I want to migrate 10K users from our old system to yours. What's the best approach?"
PERSONAL_Q = "What's my account balance?"


def samples(exposition: bytes) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for family in text_string_to_metric_families(exposition.decode()):
        for s in family.samples:
            out.append((s.name, dict(s.labels), float(s.value)))
    return out


def total(exposition: bytes, name: str, **match: str) -> float:
    return sum(v for n, labels, v in samples(exposition)
               if n == name and all(labels.get(k) == w for k, w in match.items()))


def answered_by(record: RoutingRecord) -> str:
    return "cache" if record.cache_hit else str(record.agent)


async def test_metrics_sum_the_records(sy) -> None:
    one = variant(sy)
    asks = [(FAST_Q, "u-0001"), (STANDARD_Q, "u-0002"), (EXPERT_Q, "u-0003"),
            (FAST_Q, "u-0004"), (PERSONAL_Q, "u-0001"), (PERSONAL_Q, "u-0001"), ("", "u-0002")]
    records = [await one.aask(text, user_id=user) for text, user in asks]
    assert {r.agent for r in records} >= {"fast", "standard", "expert"}
    assert any(r.cache_hit for r in records)
    exposition = one.metrics.exposition()

    assert total(exposition, "switchyard_requests_total") == len(records)
    assert total(exposition, "switchyard_cost_usd_total") == pytest.approx(
        sum(r.cost_usd for r in records), abs=1e-9)
    assert total(exposition, "switchyard_counterfactual_cost_usd_total") == pytest.approx(
        sum(r.counterfactual_usd for r in records), abs=1e-9)
    ok = [r for r in records if not r.error]
    mix = Counter(answered_by(r) for r in ok)
    for tier in ("fast", "standard", "expert"):
        assert total(exposition, "switchyard_requests_total", tier=tier, outcome="ok") \
            - total(exposition, "switchyard_requests_total", tier=tier, cache="hit") == mix[tier]
    assert total(exposition, "switchyard_requests_total", cache="hit") == mix["cache"]
    assert total(exposition, "switchyard_errors_total", reason="invalid_request") == 1
    calls = Counter(u["tier"] for r in records for u in r.usage)
    for tier, n in calls.items():
        assert total(exposition, "switchyard_model_calls_total", tier=tier) == n
        assert total(exposition, "switchyard_model_call_duration_seconds_count", tier=tier) == n
    assert total(exposition, "switchyard_tokens_total", direction="input") == sum(
        r.tokens.get("input", 0) for r in records)
    classified = sum(1 for r in records if "classify" in r.timings_ms)
    assert total(exposition, "switchyard_classifier_duration_seconds_count") == classified

    # The page's figures are the same registry read back.
    page = one.metrics.summary()
    assert page["requests"] == len(records)
    assert page["spent_usd"] == pytest.approx(sum(r.cost_usd for r in records), abs=1e-9)
    assert page["tier_mix"] == {k: mix.get(k, 0) for k in ("fast", "standard", "expert", "cache")}
    spent = sum(r.cost_usd for r in records)
    counterfactual = sum(r.counterfactual_usd for r in records)
    assert page["savings"] == pytest.approx(1 - spent / counterfactual)


async def test_counterfactual_is_the_experts_cost(sy) -> None:
    """An expert answer's counterfactual is what it cost; a cheaper one's is the expert's
    typical request at list price, and a cache hit's too (the baseline has no cache)."""
    from switchyard.llm.accounting import typical_request_cost

    one = variant(sy)
    expert = await one.aask(EXPERT_Q, user_id="u-0003")
    fast = await one.aask("How do I reset my password?", user_id="u-0004", use_cache=False)
    hit = await one.aask(FAST_Q, user_id="u-0005")
    hit = hit if hit.cache_hit else await one.aask(FAST_Q, user_id="u-0005")
    assert expert.agent == "expert" and not expert.cache_hit
    assert expert.counterfactual_usd == pytest.approx(
        sum(u["cost_usd"] for u in expert.usage if u["tier"] == "expert"))
    assert fast.agent == "fast"
    typical = typical_request_cost("expert", one.settings)
    assert fast.counterfactual_usd == pytest.approx(typical, rel=0.02)
    assert fast.counterfactual_usd > fast.cost_usd
    assert hit.cache_hit and hit.cost_usd == 0 and hit.counterfactual_usd >= typical


async def test_two_switchyards_keep_their_own_series(sy) -> None:
    a, b = variant(sy), variant(sy)
    await a.aask(FAST_Q, user_id="u-0001")
    assert a.metrics.registry is not b.metrics.registry
    assert total(a.metrics.exposition(), "switchyard_requests_total") == 1
    assert total(b.metrics.exposition(), "switchyard_requests_total") == 0
    from prometheus_client import REGISTRY

    assert not [m for m in REGISTRY.collect() if m.name.startswith("switchyard_")]


def series(exposition: bytes) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {(name, tuple(sorted(labels.items()))) for name, labels, _ in samples(exposition)}


async def _replayed_service(sy: Any, states: list[dict[str, Any]]) -> Any:
    """A ChatService whose graph replays final states: the service's own bookkeeping (records,
    metrics, log lines, the page's recent decisions) runs for real, without a model per request."""
    from switchyard.service.app import ChatService, ServiceConfig

    class Replay:
        def __init__(self) -> None:
            self.i = 0

        async def astream(self, inputs: dict[str, Any], config: dict[str, Any], *,
                          context: Any, stream_mode: str) -> Any:
            state = dict(states[self.i % len(states)])
            self.i += 1
            # What a real run of this user would carry: their text, tenant and user scope.
            request = inputs["messages"][-1].content
            cache = dict(state.get("cache") or {})
            if cache.get("partition"):
                _, scope, *rest = str(cache["partition"]).split("|")
                scope = scope if scope == "public" else f"user:{context.user_id}"
                cache["partition"] = "|".join([context.tenant, scope, *rest])
            yield {**state, "request": request, "cache": cache}

    one = variant(sy)
    return ChatService(one, Replay(), ServiceConfig(switchyard=one))


async def test_ten_thousand_users_and_tenants_make_no_new_series(sy) -> None:
    from switchyard.core.context import Context
    from switchyard.service.auth import Identity
    from switchyard.service.schemas import ChatRequest

    # Real final states of the kinds of request a deployment sees (the personal repeat: a cache
    # hit whatever ran before in this session).
    source = variant(sy)
    states = []
    for text, user in ((FAST_Q, "u-0001"), (STANDARD_Q, "u-0002"), (EXPERT_Q, "u-0003"),
                       (FAST_Q, "u-0004"), (PERSONAL_Q, "u-0001"), (PERSONAL_Q, "u-0001"),
                       ("", "u-0002")):
        states.append(await source.graph.ainvoke(
            {"messages": [("user", text)]},
            context=Context(user_id=user, tenant="default")))
    assert any((s.get("cache") or {}).get("hit") for s in states)

    async def run(users: int, tenants: int, n: int = 10_000) -> bytes:
        svc = await _replayed_service(sy, states)
        for i in range(n):
            user, tenant = f"user-{i % users:05d}", f"tenant-{i % tenants:05d}"
            text = f"{FAST_Q} (ticket {i}, {user}@example.com)"
            try:
                await svc.chat(ChatRequest(message=text), Identity(user, tenant, verified=True))
            except Exception as exc:  # the refused-at-intake state: a 422, counted all the same
                assert getattr(exc, "status", None) == 422
        return svc.metrics.exposition()

    one = await run(users=1, tenants=1)
    many = await run(users=10_000, tenants=10_000)
    assert total(many, "switchyard_requests_total") == 10_000
    assert series(many) == series(one)
    text = many.decode()
    assert "user-0" not in text and "tenant-0" not in text and "example.com" not in text
    assert "ticket" not in text


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    buckets = [(0.1, 2.0), (0.5, 6.0), (1.0, 10.0), (math.inf, 10.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1 + 0.4 * (5 - 2) / 4)
    assert histogram_quantile(0.1, buckets) == pytest.approx(0.1 * 1 / 2)
    assert histogram_quantile(0.95, [(1.0, 1.0), (math.inf, 4.0)]) == 1.0  # rank in +Inf
    assert histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None


def test_feedback_scores_are_clipped_and_labelled_by_tier(sy) -> None:
    one = variant(sy)
    one.metrics.observe_feedback("fast", 1.0)
    one.metrics.observe_feedback("expert", 7.0)
    one.metrics.observe_feedback("u-0001", 0.0)
    one.metrics.observe_feedback("fast", float("nan"))
    exposition = one.metrics.exposition()
    assert total(exposition, "switchyard_feedback_score_count") == 3
    assert total(exposition, "switchyard_feedback_score_sum", tier="expert") == 1.0
    assert total(exposition, "switchyard_feedback_score_count", tier="none") == 1
    assert "u-0001" not in exposition.decode()
