"""A tiny real bench run: the real graph, classifier and cache, simulated latency scaled down."""

from __future__ import annotations

import asyncio
import json

import pytest

from switchyard.bench.report import CONFIGS
from switchyard.bench.run import run_bench, write_outputs
from switchyard.bench.workload import build_workload

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def report(tmp_path_factory, sy) -> dict:
    # ``sy`` seeded the session's home: the workload's users come from its database.
    wl = build_workload(20, settings=sy.settings, seed=11)
    rep = asyncio.run(run_bench(wl, settings=sy.settings, concurrency=4, daily_volume=25_000,
                                time_scale=0.001))
    rep["_paths"] = write_outputs(rep, tmp_path_factory.mktemp("bench"))
    return rep


def test_report_has_every_configuration_and_headline(report):
    for name in CONFIGS:
        s = report[name]
        for key in ("cost_per_request_usd", "mean_latency_ms", "p95_latency_ms", "tier_mix",
                    "cache_hit_rate", "throughput_rps", "overhead_p50_ms", "overhead_p95_ms"):
            assert key in s, (name, key)
        assert s["requests"] == 20
    for key in ("cost_reduction_pct", "latency_reduction_pct", "throughput_rps", "overhead_p50_ms",
                "overhead_p95_ms", "max_in_flight", "red_flags", "targets"):
        assert key in report
    json.dumps(report, default=str)  # --json prints it as one object
    assert report["errors"] == 0, [report[c]["error_samples"] for c in CONFIGS]


def test_baseline_sends_everything_to_the_expert_without_cache(report):
    base = report["baseline"]
    assert base["route_mix"]["expert"] == 1.0 and base["tier_mix"]["expert"] == 1.0
    assert base["cache_hit_rate"] == 0.0
    assert report["routed"]["cache_hit_rate"] == 0.0
    assert report["oracle"]["routing_vs_oracle"]["agree"] == 1.0
    assert report["max_in_flight"] <= 4
    # The tier caps hold: never more model calls in flight than requests.
    assert all(v <= 4 for v in base["model_calls_in_flight_max"].values())


def test_cheaper_configurations_cost_less_and_no_strategic_answer_is_cached(report):
    assert report["routed"]["cost_per_request_usd"] < report["baseline"]["cost_per_request_usd"]
    assert report["oracle"]["cost_per_request_usd"] < report["baseline"]["cost_per_request_usd"]
    flags = {f["flag"]: f for f in report["red_flags"]}
    assert not flags["strategic recommendations are cached"]["fired"], flags


def test_outputs_are_written(report):
    paths = report["_paths"]
    assert paths["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(paths["json"].read_text())["baseline"]["requests"] == 20
    assert "| Cost per request |" in paths["md"].read_text()


@pytest.mark.parametrize("seeds", ["7,x", "3,3", ","])
def test_bench_cli_rejects_bad_seed_lists(seeds: str) -> None:
    from typer.testing import CliRunner

    from switchyard.cli.main import app

    res = CliRunner().invoke(app, ["bench", "-n", "5", "--seeds", seeds])
    assert res.exit_code == 2, res.output
    assert "seed" in res.output.lower()
