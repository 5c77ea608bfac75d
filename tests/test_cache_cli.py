"""``switchyard cache probe|calibrate|stats|clear`` on a small pair file with a malformed line."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from switchyard.commands.cache import register

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
        "b": "How can I link Salesforce with Quillstack?",
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
    d = report["default"]
    assert d["false_hit_rate"] == 0.0 and d["hit_rate"] == 1.0 and d["precision"] == 1.0
    assert report["thresholds"][0]["raw_false_hit_rate"] > 0  # cosine alone would false-hit
    res = CliRunner().invoke(_app(), ["cache", "calibrate", "--pairs", str(_write(tmp_path))])
    assert res.exit_code == 0 and "false-hit rate" in res.output


def test_stats_and_clear_use_the_real_cache() -> None:
    from switchyard.cache import reset_cache

    reset_cache()
    runner = CliRunner()
    res = runner.invoke(_app(), ["cache", "stats", "--json"])
    assert res.exit_code == 0, res.output
    assert "entries" in json.loads(res.output)
    res = runner.invoke(_app(), ["cache", "clear", "--user", "u-1", "--intent", "billing"])
    assert res.exit_code == 0 and "cleared 0 entries" in res.output
    reset_cache()
