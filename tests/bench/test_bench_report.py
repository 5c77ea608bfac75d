"""The bench report's arithmetic on a small synthetic result set (no graph, no models)."""

from __future__ import annotations

import pytest

from switchyard.bench.report import compare, percentile, red_flags, summarise, to_markdown


def _r(agent: str, cost: float, wall: float, *, hit: bool = False, route: str | None = None,
       oracle: str | None = None, sim: float = 0.0, ok: bool = True) -> dict:
    return {"ok": ok, "agent": agent, "route": route or agent, "cache_hit": hit, "cost_usd": cost,
            "classifier_cost_usd": 0.0, "wall_ms": wall, "simulated_ms": sim,
            "overhead_ms": wall - sim, "oracle_tier": oracle or agent, "cache_stored": False}


def _configs() -> dict[str, dict]:
    vol = 1000
    base = [_r("expert", 0.40, 100_000.0, route="expert", oracle=o)
            for o in ("fast", "fast", "standard", "expert")]
    routed = [_r("fast", 0.0004, 4000.0), _r("fast", 0.0004, 4000.0),
              _r("standard", 0.011, 8000.0), _r("expert", 0.40, 100_000.0)]
    cached = [_r("fast", 0.0004, 4000.0), _r("fast", 0.0, 10.0, hit=True),
              _r("standard", 0.011, 8000.0), _r("expert", 0.40, 100_000.0)]
    return {
        "baseline": summarise(base, wall_s=10.0, daily_volume=vol, max_in_flight=4),
        "routed": summarise(routed, wall_s=5.0, daily_volume=vol),
        "routed_cached": summarise(cached, wall_s=5.0, daily_volume=vol),
        "oracle": summarise(cached, wall_s=5.0, daily_volume=vol),
    }


def test_percentile_interpolates_like_numpy():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10], 95) == 10
    assert percentile([], 95) == 0.0
    assert percentile(list(range(101)), 95) == pytest.approx(95.0)


def test_summary_cost_latency_mix_and_projection():
    s = _configs()["routed_cached"]
    assert s["cost_per_request_usd"] == pytest.approx((0.0004 + 0.011 + 0.40) / 4)
    assert s["mean_latency_ms"] == pytest.approx((4000 + 10 + 8000 + 100_000) / 4, abs=0.1)
    assert s["tier_mix"] == {"fast": 0.25, "standard": 0.25, "expert": 0.25, "cache": 0.25}
    assert s["cache_hit_rate"] == 0.25
    assert s["daily_cost_usd"] == pytest.approx(s["cost_per_request_usd"] * 1000, abs=0.01)
    assert s["monthly_cost_usd"] == pytest.approx(s["daily_cost_usd"] * 30, abs=0.05)
    assert s["throughput_rps"] == pytest.approx(0.8)


def test_reductions_against_the_baseline_and_the_oracle_gap():
    cfg = _configs()
    head = compare(cfg, daily_volume=1000)
    rc = cfg["routed_cached"]
    assert head["cost_reduction_pct"] == pytest.approx((1 - rc["cost_per_request_usd"] / 0.40) * 100, abs=0.01)
    assert head["latency_reduction_pct"] == pytest.approx((1 - rc["mean_latency_ms"] / 100_000) * 100, abs=0.01)
    assert head["oracle_cost_gap_pct"] == 0.0
    assert head["projection"]["monthly_savings_usd"] == pytest.approx(
        cfg["baseline"]["monthly_cost_usd"] - rc["monthly_cost_usd"], abs=0.01)
    assert head["targets"]["cost_reduction_ge_85pct"] is False  # 74% here
    assert head["targets"]["within_10pct_of_oracle"] is True


def test_routing_against_the_oracle_counts_under_and_over_routing():
    rows = [_r("expert", 0.4, 1.0, oracle="fast"), _r("fast", 0.0, 1.0, oracle="expert"),
            _r("standard", 0.0, 1.0, oracle="standard")]
    s = summarise(rows, wall_s=1.0, daily_volume=1)
    assert s["routing_vs_oracle"] == {"agree": pytest.approx(1 / 3, abs=1e-3), "under_routed": 1, "over_routed": 1}


def test_errors_are_counted_and_excluded_from_latency():
    rows = [_r("fast", 0.001, 1000.0), _r("fast", 0.0, 0.0, ok=False)]
    s = summarise(rows, wall_s=1.0, daily_volume=1)
    assert s["errors"] == 1 and s["mean_latency_ms"] == 1000.0
    assert s["cost_per_request_usd"] == pytest.approx(0.0005)


def test_red_flags_fire_on_the_article_failure_modes():
    cfg = _configs()
    compare(cfg, daily_volume=1000)
    flags = {f["flag"]: f["fired"] for f in red_flags(cfg)}
    assert not any(flags.values())
    # Everything to the expert, latency not improved, a strategic answer in the cache.
    cfg["routed"] = cfg["baseline"]
    cfg["routed_cached"] = dict(cfg["baseline"])
    fired = {f["flag"]: f["fired"] for f in red_flags(cfg, strategic_cached=["'plan a migration'"])}
    assert fired["every request goes to the most expensive agent"]
    assert fired["latency did not improve"]
    assert fired["strategic recommendations are cached"]
    cfg["routed_cached"]["classifier_cost_per_request_usd"] = 0.006
    assert {f["flag"]: f["fired"] for f in red_flags(cfg)}[
        "classifier costs more than its benefit (or > $0.005/request)"]


def test_markdown_report_has_the_table_flags_and_chart():
    cfg = _configs()
    head = compare(cfg, daily_volume=1000)
    report = {**cfg, **head, "concurrency": 4, "daily_volume": 1000, "red_flags": red_flags(cfg),
              "workload": {"requests": 4, "source": "x", "seed": 1,
                           "mix_actual": {"low": 0.5, "medium": 0.25, "high": 0.25}, "users": 4,
                           "kinds": {"repeat_same_user": 0, "repeat_other_user": 0, "paraphrase": 0}},
              "assumptions": {"tiers": {}}}
    md = to_markdown(report)
    assert "| Cost per request |" in md and "Simulation" in md and "chart.png" in md
    assert md.count("\n- ok:") == 4


def _headline(cost: float, latency: float, gap: float, errors: int = 0) -> dict:
    cfg = {"errors": errors}
    return {"cost_reduction_pct": cost, "latency_reduction_pct": latency, "oracle_cost_gap_pct": gap,
            "baseline": cfg, "routed": cfg, "routed_cached": cfg, "oracle": cfg,
            "targets": {"cost_reduction_ge_85pct": cost >= 85, "latency_reduction_ge_60pct": latency >= 60,
                        "within_10pct_of_oracle": gap <= 10}}


def test_seed_summary_reports_median_range_and_misses():
    from switchyard.bench.report import seed_summary

    summary = seed_summary({7: _headline(93.4, 81.7, 6.5), 1: _headline(93.6, 79.9, 24.2),
                            3: _headline(95.1, 82.8, -2.2, errors=1)})
    assert summary["seeds"] == [7, 1, 3]
    gap = summary["stats"]["oracle_cost_gap_pct"]
    assert (gap["median"], gap["min"], gap["max"]) == (6.5, -2.2, 24.2)
    assert summary["seeds_meeting_all_targets"] == 2  # seed 1 misses the oracle target
    assert summary["errors"] == 4  # one error counted in each of seed 3's four configurations
