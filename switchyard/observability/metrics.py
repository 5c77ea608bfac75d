"""Prometheus metrics of one switchyard, fed by the requests' routing records.

Each :class:`~switchyard.app.Switchyard` owns one :class:`SwitchyardMetrics` with a
``CollectorRegistry`` of its own (never the process-global one), so two switchyards in one process
never mix their series. Labels are a small fixed vocabulary: tier, cache result, complexity,
outcome, reason. Never a user, a tenant, an id or any text: 10,000 users make as many series as
one (``tests/observability/test_metrics.py``).

Spend and the counterfactual are counted per request from ``cost_usd`` and
``counterfactual_usd`` (``switchyard.llm.accounting.expert_counterfactual_usd`` defines it), with
the same labels, so savings are one PromQL expression::

    1 - sum(increase(switchyard_cost_usd_total[1d]))
      / sum(increase(switchyard_counterfactual_cost_usd_total[1d]))
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from switchyard.core.domain import TIERS
from switchyard.core.settings import Settings
from switchyard.observability.request_log import cache_result, log_line
from switchyard.record import RoutingRecord

__all__ = ["CONTENT_TYPE_LATEST", "SwitchyardMetrics", "histogram_quantile"]

# Seconds. A request spans a cache hit (~10 ms) to an expert answer (tens of seconds).
REQUEST_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0,
                   90.0)
# Steps inside a request: the classifier, a cache lookup, a wait.
STEP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0)
SCORE_BUCKETS = (0.0, 0.25, 0.5, 0.75, 1.0)
NONE = "none"
# Why a request ended without an answer (the errors counter's ``reason``).
ERROR_REASONS = ("invalid_request", "unavailable", "timeout", "thread_busy", "overloaded",
                 "cancelled", "internal")


def _tier(record: RoutingRecord) -> str:
    return record.agent if record.agent in TIERS else NONE


class SwitchyardMetrics:
    """The registry and every series; ``observe`` one record per request."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        answer_labels = ("tier", "cache")
        self.requests = Counter(
            "switchyard_requests", "Requests by the tier that answered (a hit: the tier that wrote "
            "the cached answer), cache result, complexity and outcome.",
            ("tier", "cache", "complexity", "outcome"), registry=r)
        self.errors = Counter(
            "switchyard_errors", "Requests that ended without an answer, by the tier routed to "
            "and reason.", ("tier", "reason"), registry=r)
        self.fallbacks = Counter(
            "switchyard_fallbacks", "A tier's provider failed and the request went to another "
            "tier (or, the last one, failed), by the failed tier and reason.",
            ("tier", "reason"), registry=r)
        self.cost = Counter(
            "switchyard_cost_usd", "USD spent on model calls, per request, by the tier that "
            "answered and cache result.", answer_labels, registry=r)
        self.counterfactual = Counter(
            "switchyard_counterfactual_cost_usd", "USD the same requests would have cost had "
            "each gone to the expert tier with no cache (docs/observability.md).",
            answer_labels, registry=r)
        self.model_cost = Counter(
            "switchyard_model_cost_usd", "USD spent per model call, by the tier billed "
            "(classifier: an LLM classifier's call).", ("tier",), registry=r)
        self.model_calls = Counter(
            "switchyard_model_calls", "Model calls paid for, by the tier billed.", ("tier",),
            registry=r)
        self.tokens = Counter(
            "switchyard_tokens", "Tokens by the tier billed and direction (output includes "
            "reasoning).", ("tier", "direction"), registry=r)
        self.request_seconds = Histogram(
            "switchyard_request_duration_seconds", "Whole request, by the tier that answered "
            "and cache result.", answer_labels, buckets=REQUEST_BUCKETS, registry=r)
        self.classifier_seconds = Histogram(
            "switchyard_classifier_duration_seconds", "The classify node (embedding included).",
            buckets=STEP_BUCKETS, registry=r)
        self.lookup_seconds = Histogram(
            "switchyard_cache_lookup_duration_seconds", "The cache_lookup node less any "
            "single-flight wait, by result.", ("result",), buckets=STEP_BUCKETS, registry=r)
        self.model_seconds = Histogram(
            "switchyard_model_call_duration_seconds", "One model call less its waits for the "
            "tier's rate limit and concurrency slot, by tier.", ("tier",),
            buckets=REQUEST_BUCKETS, registry=r)
        self.flight_wait = Histogram(
            "switchyard_single_flight_wait_seconds", "A follower's wait for an identical request "
            "in flight (here or on another replica).", buckets=STEP_BUCKETS, registry=r)
        self.rate_wait = Histogram(
            "switchyard_rate_limit_wait_seconds", "Each model call's wait for its tier's rate "
            "limit.", ("tier",), buckets=STEP_BUCKETS, registry=r)
        self.slot_wait = Histogram(
            "switchyard_concurrency_wait_seconds", "Each model call's wait for one of its tier's "
            "concurrency slots.", ("tier",), buckets=STEP_BUCKETS, registry=r)
        self.feedback = Histogram(
            "switchyard_feedback_score", "Outcome scores (0..1) received for answered requests, "
            "by the tier that answered.", ("tier",), buckets=SCORE_BUCKETS, registry=r)
        self.in_flight = Gauge("switchyard_requests_in_flight", "Requests being answered now.",
                               registry=r)
        self.slots_in_use = Gauge(
            "switchyard_concurrency_slots_in_use", "Model-call slots this process holds now, by "
            "tier.", ("tier",), registry=r)
        self.slots_limit = Gauge(
            "switchyard_concurrency_slots_limit", "The tier's max_concurrency (with a shared "
            "database, a cap across every replica).", ("tier",), registry=r)
        self.cache_entries = Gauge(
            "switchyard_cache_entries", "Entries in the semantic cache (with PostgreSQL: the "
            "shared cache, the same on every replica).", registry=r)
        self.cache_hit_ratio = Gauge(
            "switchyard_cache_hit_ratio", "The cache's lifetime hits / lookups, from its "
            "persisted counters.", registry=r)
        self.threads = Gauge(
            "switchyard_threads", "Conversation threads in the thread store (with PostgreSQL: "
            "the shared store).", registry=r)
        self.started_at = Gauge("switchyard_start_time_seconds", "When this switchyard started "
                                "(Unix time).", registry=r)
        self.start_time = time.time()
        self.started_at.set(self.start_time)
        for tier in settings.tiers:
            self.slots_limit.labels(tier).set(settings.tier(tier).max_concurrency)
            self.slots_in_use.labels(tier).set(0)
        # The series savings and the tier mix are computed from exist from the start, at 0, so
        # rate() and increase() count a series' first request too.
        for tier in (*TIERS, NONE):
            for cache in ("hit", "miss", "skip", NONE):
                self.cost.labels(tier, cache)
                self.counterfactual.labels(tier, cache)
        for tier in TIERS:
            for cache in ("hit", "miss", "skip"):
                for complexity in ("low", "medium", "high"):
                    self.requests.labels(tier, cache, complexity, "ok")
        # The savings page's "last N decisions" and its spend-over-time samples.
        self.recent: deque[dict[str, Any]] = deque(
            maxlen=settings.observability.recent_decisions or None)
        self.history: deque[tuple[float, float, float, int]] = deque(maxlen=720)
        self._lock = threading.Lock()
        self._stores_read_at = 0.0

    # -- per request -------------------------------------------------------------------------
    def observe(self, record: RoutingRecord, *, duration_s: float | None = None,
                text: str | None = None, status: int = 200,
                error_kind: str | None = None) -> dict[str, Any]:
        """Count one request from its record; returns its log line (also kept for the page)."""
        tier, cache = _tier(record), cache_result(record)
        outcome = "error" if (record.error or error_kind) else "ok"
        seconds = duration_s if duration_s is not None else (record.latency_ms or 0.0) / 1000.0
        self.requests.labels(tier, cache, record.complexity or NONE, outcome).inc()
        if outcome == "error":
            reason = error_kind or ("unavailable" if record.fallback_from else "invalid_request")
            self.errors.labels(record.route or NONE, reason).inc()
        for failed, why in zip(record.fallback_from, record.fallback_reasons, strict=False):
            self.fallbacks.labels(failed, why).inc()
        self.cost.labels(tier, cache).inc(max(0.0, record.cost_usd))
        self.counterfactual.labels(tier, cache).inc(max(0.0, record.counterfactual_usd))
        self.request_seconds.labels(tier, cache).observe(seconds)
        timings = record.timings_ms
        if "classify" in timings:
            self.classifier_seconds.observe(timings["classify"] / 1000.0)
        if "cache_lookup" in timings:
            waited = timings.get("single_flight_wait", 0.0)
            self.lookup_seconds.labels(cache).observe(
                max(0.0, timings["cache_lookup"] - waited) / 1000.0)
            if waited:
                self.flight_wait.observe(waited / 1000.0)
        for call in record.usage:
            billed = str(call.get("tier") or NONE)
            self.model_calls.labels(billed).inc()
            self.model_cost.labels(billed).inc(max(0.0, float(call.get("cost_usd", 0.0))))
            self.tokens.labels(billed, "input").inc(int(call.get("input_tokens", 0)))
            self.tokens.labels(billed, "output").inc(int(call.get("output_tokens", 0)))
            if "wall_ms" in call:
                slot_ms = float(call.get("slot_wait_ms", 0.0))
                rate_ms = float(call.get("rate_limit_wait_ms", 0.0))
                self.model_seconds.labels(billed).observe(
                    max(0.0, float(call["wall_ms"]) - slot_ms - rate_ms) / 1000.0)
                self.slot_wait.labels(billed).observe(slot_ms / 1000.0)
                self.rate_wait.labels(billed).observe(rate_ms / 1000.0)
        line = log_line(record, text=text, status=status, error_kind=error_kind,
                        duration_ms=round(seconds * 1000.0, 2))
        if self.recent.maxlen:
            self.recent.append(line)
        return line

    def observe_failure(self, reason: str, *, route: str | None = None,
                        duration_s: float | None = None) -> None:
        """A request that ended without a record (a timeout, a busy thread, a crash)."""
        self.requests.labels(NONE, NONE, NONE, "error").inc()
        self.errors.labels(route or NONE, reason).inc()
        if duration_s is not None:
            self.request_seconds.labels(NONE, NONE).observe(duration_s)

    def observe_feedback(self, tier: str | None, score: float) -> None:
        """An outcome score (0..1) for a request ``tier`` answered (POST /v1/feedback calls
        this); anything outside 0..1 is clipped, a NaN ignored."""
        if not math.isfinite(score):
            return
        self.feedback.labels(tier if tier in TIERS else NONE).observe(min(1.0, max(0.0, score)))

    @contextlib.contextmanager
    def tracking(self) -> Iterator[None]:
        """Count the body as one request in flight."""
        self.in_flight.inc()
        try:
            yield
        finally:
            self.in_flight.dec()

    # -- store gauges (read at scrape time, at most every store_refresh_s) -------------------
    async def refresh(self, *, slots: Callable[[], dict[str, int]] | None = None,
                      cache_stats: Callable[[], Awaitable[dict[str, Any]]] | None = None,
                      thread_count: Callable[[], Awaitable[int | None]] | None = None) -> None:
        """Read the gauges that live in the stores. Slots are read every time (in memory);
        the cache and the thread store at most every ``store_refresh_s``."""
        if slots is not None:
            for tier, n in slots().items():
                self.slots_in_use.labels(tier).set(n)
        now = time.monotonic()
        if self._stores_read_at and now - self._stores_read_at < \
                self.settings.observability.store_refresh_s:
            return
        self._stores_read_at = now
        if cache_stats is not None:
            stats = await cache_stats()
            self.cache_entries.set(stats.get("entries", 0))
            ratio = stats.get("hit_rate")
            self.cache_hit_ratio.set(ratio if ratio is not None else float("nan"))
        if thread_count is not None:
            count = await thread_count()
            if count is not None:
                self.threads.set(count)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)

    # -- the savings page's figures ----------------------------------------------------------
    def _collect(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Every sample of the registry by name (one pass over it)."""
        out: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
        return out

    def summary(self) -> dict[str, Any]:
        """What the savings page shows, read back from the registry (so it equals /metrics)."""
        collected = self._collect()

        def samples(name: str) -> list[tuple[dict[str, str], float]]:
            return collected.get(name, [])

        requests: dict[str, float] = {}
        hits = lookups = total = errors = 0.0
        for labels, value in samples("switchyard_requests_total"):
            total += value
            if labels["outcome"] == "error":
                errors += value
                continue
            key = "cache" if labels["cache"] == "hit" else labels["tier"]
            requests[key] = requests.get(key, 0.0) + value
            if labels["cache"] in ("hit", "miss"):
                lookups += value
                hits += value if labels["cache"] == "hit" else 0.0
        spent = sum(v for _, v in samples("switchyard_cost_usd_total"))
        counterfactual = sum(v for _, v in samples("switchyard_counterfactual_cost_usd_total"))
        latency = {}
        for key, selector in (("fast", {"tier": "fast", "cache": "miss|skip"}),
                              ("standard", {"tier": "standard", "cache": "miss|skip"}),
                              ("expert", {"tier": "expert", "cache": "miss|skip"}),
                              ("cache", {"cache": "hit"})):
            buckets = _buckets(samples("switchyard_request_duration_seconds_bucket"), selector)
            count = buckets[-1][1] if buckets else 0.0
            latency[key] = {"count": count,
                            "p50_s": histogram_quantile(0.5, buckets),
                            "p95_s": histogram_quantile(0.95, buckets)}
        now = time.time()
        with self._lock:
            if not self.history or now - self.history[-1][0] >= \
                    self.settings.observability.page_refresh_s:
                self.history.append((now, spent, counterfactual, int(total)))
            history = list(self.history)
        return {
            "generated_at": now,
            "started_at": self.start_time,
            "requests": int(total),
            "errors": int(errors),
            "tier_mix": {k: int(requests.get(k, 0)) for k in ("fast", "standard", "expert",
                                                              "cache")},
            "cache_hit_rate": hits / lookups if lookups else None,
            "spent_usd": spent,
            "counterfactual_usd": counterfactual,
            "savings": 1.0 - spent / counterfactual if counterfactual > 0 else None,
            "latency": latency,
            # From the start (at 0), so the chart has a line from its first sample.
            "history": [{"t": t, "spent_usd": s, "counterfactual_usd": c, "requests": n}
                        for t, s, c, n in [(self.start_time, 0.0, 0.0, 0), *history]],
            "recent": list(self.recent)[::-1],
        }



def _buckets(samples: Iterable[tuple[dict[str, str], float]],
             selector: dict[str, str]) -> list[tuple[float, float]]:
    """Cumulative (le, count) of the histogram bucket samples matching ``selector`` (a value may
    list alternatives with ``|``), summed over them: ``sum by (le)`` in PromQL."""
    summed: dict[float, float] = {}
    for labels, value in samples:
        if all(labels.get(k) in v.split("|") for k, v in selector.items()):
            le = float(labels["le"])
            summed[le] = summed.get(le, 0.0) + value
    return sorted(summed.items())


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative (upper bound, count) buckets: linear
    interpolation inside the bucket the rank falls in; the highest finite bound when it falls in
    the +Inf bucket; None without observations."""
    points = sorted(buckets)
    if len(points) < 2 or not points[-1][1] or not math.isinf(points[-1][0]):
        return None
    rank = q * points[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for i, (bound, count) in enumerate(points):
        if count >= rank:
            if math.isinf(bound):
                return points[i - 1][0] if i else None
            if i == 0 and bound <= 0:
                return bound
            return lower_bound + (bound - lower_bound) * ((rank - lower_count)
                                                          / max(count - lower_count, 1e-300))
        lower_bound, lower_count = bound, count
    return None
