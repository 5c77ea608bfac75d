"""The simulation never calls an endpoint; ``bench --live`` measures real calls, and only with --yes.

Both run against the project's OpenAI contract server, configured as the user's endpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.openai_server import OpenAIContractServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

SWITCHYARD = Path(sys.executable).parent / "switchyard"


def _env(server: OpenAIContractServer, home: Path) -> dict[str, str]:
    env = {**os.environ, "OPENAI_API_KEY": "sk-contract-test", "OPENAI_BASE_URL": server.base_url,
           "SWITCHYARD_HOME": str(home)}
    env.pop("SWITCHYARD_OFFLINE", None)
    return env


def test_a_simulation_bench_sends_nothing_to_the_configured_endpoint(
        openai_server: OpenAIContractServer, monkeypatch: pytest.MonkeyPatch, deps) -> None:
    from switchyard.bench.run import run_bench
    from switchyard.bench.workload import build_workload
    from switchyard.core.settings import Settings

    monkeypatch.setenv("OPENAI_API_KEY", "sk-contract-test")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.delenv("SWITCHYARD_OFFLINE", raising=False)
    settings = Settings()
    assert not settings.use_offline_model, "the endpoint must look real to the bench"
    workload = build_workload(12, settings=settings, mix=(0.5, 0.3, 0.2), seed=3)
    report = asyncio.run(run_bench(workload, settings=settings, concurrency=4, daily_volume=1000,
                                   time_scale=0.001))
    assert report["errors"] == 0
    assert openai_server.count() == 0, "a simulation must never call the configured endpoint"


def test_the_live_bench_needs_yes_then_reports_from_the_servers_responses(
        openai_server: OpenAIContractServer, switchyard_home: Path, tmp_path: Path, deps) -> None:
    env = _env(openai_server, switchyard_home)
    dry = subprocess.run([str(SWITCHYARD), "bench", "--live", "-n", "20", "--out", str(tmp_path)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert dry.returncode == 1 and "estimated cost" in dry.stderr and "--yes" in dry.stderr
    assert openai_server.count() == 0, "nothing may be sent without --yes"

    home_cache = _home_cache_entries()
    run = subprocess.run([str(SWITCHYARD), "bench", "--live", "-n", "20", "--yes", "--json",
                          "--out", str(tmp_path)], env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["requests"] == 20 and report["errors"] == 0, report["error_samples"]
    calls = openai_server.count()
    assert calls >= 20 - report["cache_hits"], "every request not served by the cache hit the server"
    # Cost and tokens come from the server's usage (the contract server reports usage).
    tokens_out = sum(t["output_tokens"] for t in report["by_tier"].values())
    assert report["measured_cost_usd"] > 0 and tokens_out > 0
    assert all(t["calls_with_estimated_usage"] == 0 for t in report["by_tier"].values())
    assert report["latency_p50_ms"] > 0
    assert (tmp_path / "live-report.md").exists() and (tmp_path / "live-report.json").exists()
    # The run used a throw-away cache: the home's answers neither served nor grew (a run
    # that reused it would serve the previous run's answers and measure nothing).
    assert _home_cache_entries() == home_cache
    # Honest numbers: how many fast-tier answers passed the grounding check, how many were
    # replaced by the extract of their passages; every one is either.
    g = report["grounding"]
    assert g["fast_answers"] > 0 and g["checked"] > 0
    assert g["passed"] + g["replaced"] == g["checked"]
    fast = [a for a in report["answers"] if a["agent"] == "fast"]
    assert len(fast) == g["fast_answers"]
    assert all(a["answer_source"] in ("model", "extractive", "fixed", "cache") for a in fast)
    checked = [a for a in fast if a["answer_source"] == "model" and a["in_scope"] is not False]
    assert all(a["grounding"] in ("grounded", "abstained") for a in checked)
    assert g["passed"] == len(checked)
    assert "Grounding check" in (tmp_path / "live-report.md").read_text()


def _home_cache_entries() -> int:
    from switchyard.cache.faiss_backend import FaissSemanticCache
    from switchyard.core.settings import Settings

    settings = Settings()
    cache = FaissSemanticCache(settings.cache_dir / "cache.sqlite", settings.cache,
                               hash_key=settings.hash_key)
    try:
        return int(cache.stats()["entries"])
    finally:
        cache.close()
