"""``switchyard plan`` on the bundled sample traffic log: the template's numbers match the log."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from switchyard.bench.plan import build_plan, plan_from_log, read_log, render_markdown, tier_profile
from switchyard.core.settings import TIERS, bundled_path

SAMPLE = bundled_path("switchyard.domains", "quillstack", "traffic", "sample_traffic.jsonl")


@pytest.fixture(scope="module")
def planned(sy) -> tuple[dict, str, list]:
    plan, md = plan_from_log(SAMPLE, sy.classifier, sy.settings)
    texts = [x.text for x in read_log(SAMPLE).lines]
    return plan, md, sy.classifier.classify_many(texts)


def test_sample_log_is_realistic_and_not_the_held_out_split():
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    assert 300 <= len(rows) <= 500
    assert all(r["text"] and r["user_id"].startswith("u-") and r["ts"].endswith("Z") for r in rows)
    test_texts = {json.loads(x)["text"] for x in bundled_path("switchyard.domains", "quillstack", "routing", "test.jsonl").read_text().splitlines()}
    assert not test_texts & {r["text"] for r in rows}


def test_counts_sum_to_the_log_and_match_the_classifier(planned):
    plan, _, classifications = planned
    lines = len(SAMPLE.read_text().splitlines())
    sections = plan["sections"]
    assert plan["requests"] == lines and not plan["skipped"]
    assert sum(s["count"] for s in sections.values()) == lines
    expected = Counter(c.complexity for c in classifications)
    for level, s in sections.items():
        assert s["count"] == expected[level]
        assert s["share"] == pytest.approx(expected[level] / lines)
        intents = Counter(c.intent for c in classifications if c.complexity == level)
        assert s["top_intents"] == intents.most_common(5)


def test_savings_arithmetic_is_consistent(planned, settings):
    plan, md, classifications = planned
    sv = plan["savings"]
    n = plan["requests"]
    routed = Counter(c.recommended_agent for c in classifications)
    per_req = sum(routed[t] / n * tier_profile(t, settings)["cost_per_request_usd"] for t in TIERS)
    expert = tier_profile("expert", settings)["cost_per_request_usd"]
    assert sv["target_per_request_usd"] == pytest.approx(per_req, abs=1e-6)
    assert sv["current_per_request_usd"] == pytest.approx(expert, abs=1e-6)
    # The sample spans one business day: its volume is the day's volume.
    assert sv["daily_volume"] == n
    assert sv["current_daily_usd"] == pytest.approx(expert * n, abs=0.01)
    assert sv["target_daily_usd"] == pytest.approx(per_req * n, abs=0.01)
    assert sv["current_monthly_usd"] == pytest.approx(expert * n * 30, abs=0.01)
    assert sv["target_monthly_usd"] == pytest.approx(per_req * n * 30, abs=0.01)
    assert sv["reduction_pct"] == pytest.approx((1 - per_req / expert) * 100, abs=0.01)
    assert md.startswith("# MULTI-AGENT SCALING PLAN")
    for heading in ("### Low Complexity", "### Medium Complexity", "### High Complexity",
                    "## Projected Savings", "Characteristics:", "Latency goal:", "Cost target:", "Caching:"):
        assert heading in md


def test_tier_profile_uses_list_prices_and_latency_profiles(settings):
    p = tier_profile("fast", settings)
    cfg = settings.tier("fast")
    assert p["cost_per_request_usd"] == pytest.approx(
        (p["input_tokens"] * cfg.input_per_m + p["output_tokens"] * cfg.output_per_m) / 1e6, abs=1e-6)
    assert p["latency_s"] == pytest.approx(cfg.ttft_ms / 1000 + p["output_tokens"] / cfg.tokens_per_s, abs=0.01)


def test_malformed_lines_are_reported_and_skipped(tmp_path: Path, sy):
    log = tmp_path / "log.jsonl"
    log.write_bytes(
        b'{"text": "how do I reset my password", "user_id": "u-0001", "ts": 1718000000}\n'
        b"not json at all\n"
        b"[1, 2, 3]\n"
        b'{"user_id": "u-0002"}\n'
        b'{"text": "   "}\n'
        b'{"text": "invoice 1042 please", "ts": "yesterday"}\n'
        b'{"text": "bad bytes \xff\xfe here"}\n'
        b"\n"
        b'{"text": "webhook fails with WH-401", "ts": "2025-06-10T09:00:00Z"}\n'
    )
    parsed = read_log(log)
    assert [x.line_no for x in parsed.lines] == [1, 9]
    assert [n for n, _ in parsed.skipped] == [2, 3, 4, 5, 6, 7]
    plan, md = plan_from_log(log, sy.classifier, sy.settings)
    assert plan["requests"] == 2 and len(plan["skipped"]) == 6
    assert "Skipped log lines" in md and "line 2: not JSON" in md


def test_empty_log_gives_an_empty_plan_not_a_crash(tmp_path: Path, settings):
    log = tmp_path / "empty.jsonl"
    log.write_text("\n\n")
    plan = build_plan(read_log(log), [], settings=settings)
    assert plan["requests"] == 0 and plan["savings"]["target_daily_usd"] == 0
    assert "MULTI-AGENT SCALING PLAN" in render_markdown(plan)


def test_cli_writes_the_plan(tmp_path: Path):
    from switchyard.cli.main import app

    out = tmp_path / "plan.md"
    result = CliRunner().invoke(app, ["plan", "--log", str(SAMPLE), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["requests"] == 420
    assert out.read_text().startswith("# MULTI-AGENT SCALING PLAN")
