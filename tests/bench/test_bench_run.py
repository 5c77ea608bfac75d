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


def test_quality_kept_from_outcome_labels(tmp_path, sy) -> None:
    """With outcome labels in the data, the bench reports the quality routing + cache kept."""
    from switchyard.bench.report import quality_line
    from switchyard.bench.workload import load_rows

    src = [json.loads(x) for x in (sy.settings.routing_data_dir / "test.jsonl").read_text().splitlines()]
    # The fast tier fails every high request, the expert answers everything.
    rows = [{**r, "outcomes": {"fast": r["complexity"] != "high", "standard": True, "expert": True}}
            for r in src]
    data = tmp_path / "labelled.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = load_rows(data)
    assert dict(loaded[0].outcomes) == {"fast": float(src[0]["complexity"] != "high"),
                                        "standard": 1.0, "expert": 1.0}
    wl = build_workload(24, settings=sy.settings, seed=5, rows=loaded)
    results: dict = {}
    rep = asyncio.run(run_bench(wl, settings=sy.settings, concurrency=4, daily_volume=25_000,
                                time_scale=0.001, results_sink=results))
    # All-expert keeps all of it, and so does the oracle (fast only where fast is right).
    assert rep["baseline"]["quality_kept"] == 1.0 and rep["oracle"]["quality_kept"] == 1.0
    # Routing + cache: the labels of the tier that answered each request, over the expert's.
    by_idx = {r.idx: dict(r.outcomes) for r in wl.requests}
    got = results["routed_cached"]
    expected = sum(by_idx[r["idx"]][r["agent"]] for r in got) / sum(
        by_idx[r["idx"]]["expert"] for r in got)
    q = rep["quality"]
    assert q["quality_kept"] == round(expected, 4) and q["labelled_requests"] == 24
    assert q["cost_share"] == round(1 - rep["cost_reduction_pct"] / 100, 4)
    assert "of all-expert quality at" in quality_line(rep)
    # Without labels there is no quality figure at all (never a made-up 100%).
    plain = asyncio.run(run_bench(build_workload(8, settings=sy.settings, seed=5),
                                  settings=sy.settings, concurrency=4, daily_volume=25_000,
                                  time_scale=0.001))
    assert "quality" not in plain and plain["routed_cached"]["quality_kept"] is None
