"""``switchyard cache probe|calibrate|stats|clear`` on a small pair file with a malformed line."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from switchyard.cli.commands.cache import register

PAIRS = [
    {"id": "p1", "a": "How do I reset my password?", "b": "how do i reset my password", "label": 1},
    {
        "id": "p2",
        "a": "Can you refund invoice 1042?",
        "b": "Can you refund invoice 1043?",
        "label": 0,
    },
    {"id": "p3", "a": "How do I enable SSO?", "b": "How do I disable SSO?", "label": 0},
    {
        "id": "p4",
        "a": "How do I connect Salesforce to Quillstack?",
        "b": "How do I connect Salesforce to Quillstack please?",
        "label": 1,
    },
]


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    lines = [json.dumps(p) for p in PAIRS]
    lines.insert(2, "{not json")
    lines.append(json.dumps({"id": "p5", "a": "only a"}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_probe_outputs_one_line_per_pair_and_errors(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(
        _app(), ["cache", "probe", "--pairs", str(_write(tmp_path)), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6
    by_id = {r["id"]: r for r in rows if "error" not in r}
    assert by_id["p1"]["hit"] is True and by_id["p1"]["similarity"] == 1.0
    assert by_id["p2"]["hit"] is False and by_id["p2"]["similarity"] > 0.9  # the guard, not cosine
    assert by_id["p3"]["hit"] is False
    assert by_id["p4"]["hit"] is True
    errors = [r for r in rows if "error" in r]
    assert len(errors) == 2 and {e["line"] for e in errors} == {3, 6}
    assert set(by_id["p1"]) == {"id", "hit", "similarity"}


def test_calibrate_reports_thresholds(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        _app(), ["cache", "calibrate", "--pairs", str(_write(tmp_path)), "--json"]
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.output[res.output.index("{") :])
    assert report["pairs"] == 4 and len(report["errors"]) == 2
    assert {e["line"] for e in report["errors"]} == {3, 6}
    d = report["default"]
    assert d["false_hit_rate"] == 0.0 and d["hit_rate"] == 1.0 and d["precision"] == 1.0
    lo, hi = d["false_hit_rate_ci95"]
    assert lo == 0.0 and 0.5 < hi < 0.9  # 0 of 2 negatives proves little: the interval says so
    assert report["thresholds"][0]["raw_false_hit_rate"] > 0  # cosine alone would false-hit
    assert report["recommended_threshold"] is not None
    res = CliRunner().invoke(_app(), ["cache", "calibrate", "--pairs", str(_write(tmp_path))])
    assert res.exit_code == 0 and "false-hit rate" in res.output and "95% CI" in res.output
    assert "line 3:" in res.output and "line 6:" in res.output


def _labelled(tmp_path: Path, n_per_intent: int) -> Path:
    """Pairs over two intents: exact repeats (hits at any threshold) and guard-blocked
    near-misses (never hits), so the recommendation is known in advance."""
    rows = []
    for intent in ("billing", "sso"):
        for i in range(n_per_intent):
            rows.append(
                {
                    "id": f"{intent}-p{i}",
                    "a": f"Refund invoice {1000 + i}?",
                    "b": f"refund invoice {1000 + i}",
                    "label": 1,
                    "intent": intent,
                }
            )
            rows.append(
                {
                    "id": f"{intent}-n{i}",
                    "a": f"Refund invoice {1000 + i}?",
                    "b": f"Refund invoice {2000 + i}?",
                    "label": 0,
                    "intent": intent,
                }
            )
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_calibrate_writes_a_settings_overlay_and_per_intent_only_with_enough_data(
    tmp_path: Path,
) -> None:
    overlay = tmp_path / "overlay.json"
    overlay.write_text(json.dumps({"offline": True, "cache": {"max_entries": 1000}}))
    args = [
        "cache",
        "calibrate",
        "--pairs",
        str(_labelled(tmp_path, 8)),
        "--target-false-hit",
        "0.01",
        "--by",
        "intent",
        "--write",
        str(overlay),
        "--json",
    ]
    res = CliRunner().invoke(_app(), args)
    assert res.exit_code == 0, res.output
    report = json.loads(res.output[res.output.index("{") :])
    # 8 negatives per intent is far below the 300 a 1% target needs: no per-intent thresholds.
    assert all(g["recommended_threshold"] is None for g in report["groups"].values())
    assert "at least 300 needed" in report["groups"]["billing"]["why"]
    data = json.loads(overlay.read_text())
    assert data["offline"] is True and data["cache"]["max_entries"] == 1000  # merged, not replaced
    assert data["cache"]["similarity_threshold"] == report["recommended_threshold"]
    assert data["cache"]["intent_similarity_threshold"] == {}
    from switchyard.core.settings import Settings

    assert Settings(**data).cache.similarity_threshold == report["recommended_threshold"]
    # With a lenient target the same groups are big enough (3 / 0.4 -> 8 negatives).
    args[args.index("0.01")] = "0.4"
    res = CliRunner().invoke(_app(), args[:-1] + ["--strict"])
    assert res.exit_code == 0, res.output
    assert "intent billing:" in res.output
    data = json.loads(overlay.read_text())
    assert set(data["cache"]["intent_similarity_threshold"]) == {"billing", "sso"}


def test_calibrate_bad_input_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": 1, "a": "x", "b": "y", "label": 7}\n\xff\xfe\n[1, 2]\n')
    res = CliRunner().invoke(_app(), ["cache", "calibrate", "--pairs", str(bad)])
    assert res.exit_code == 1
    for needle in (
        "line 1: 'label' must be 0 or 1",
        "line 2: not valid UTF-8",
        "line 3: line is not a JSON object",
        "need labelled pairs of both kinds",
    ):
        assert needle in res.output, res.output
    overlay = tmp_path / "not-json.json"
    overlay.write_text("{oops")
    res = CliRunner().invoke(
        _app(), ["cache", "calibrate", "--pairs", str(_write(tmp_path)), "--write", str(overlay)]
    )
    assert res.exit_code == 2 and "not a JSON settings file" in res.output
    assert overlay.read_text() == "{oops"
    res = CliRunner().invoke(
        _app(), ["cache", "calibrate", "--pairs", str(_write(tmp_path)), "--target-false-hit", "2"]
    )
    assert res.exit_code == 2


def test_stats_and_clear_use_the_real_cache() -> None:
    runner = CliRunner()
    res = runner.invoke(_app(), ["cache", "stats", "--json"])
    assert res.exit_code == 0, res.output
    assert "entries" in json.loads(res.output)
    res = runner.invoke(_app(), ["cache", "clear", "--user", "u-1", "--intent", "billing"])
    assert res.exit_code == 0 and "cleared 0 entries" in res.output
