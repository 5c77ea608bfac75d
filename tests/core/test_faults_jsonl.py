"""JSONL readers fail per line, never per batch or per run: a line nested 1,000 deep, a line
with an undecodable byte, a line the classifier chokes on each get their own error object and
every other line its normal result, in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.integration

DEEP = b'{"id": "deep", "text": ' + b"[" * 1000 + b"]" * 1000 + b"}"
BAD_BYTE = b'{"id": "bad", "text": "caf\xff latte"}'


def _good(i: int, text: str) -> bytes:
    return json.dumps({"id": f"ok{i}", "text": text}).encode()


def _input() -> bytes:
    return b"\n".join([_good(1, "I forgot my password"), DEEP, BAD_BYTE,
                       _good(2, "What's my account balance?")]) + b"\n"


def _check(rows: list[dict]) -> None:
    assert [r["line"] for r in rows] == [1, 2, 3, 4]
    assert "error" not in rows[0] and "error" not in rows[3]
    assert rows[0]["agent"] and rows[3]["agent"]
    assert "nested deeper" in rows[1]["error"]
    assert "UTF-8" in rows[2]["error"]


def _cli(args: list[str], stdin: bytes | None = None):
    from switchyard.cli.main import app

    return CliRunner().invoke(app, args, input=stdin)


def test_classify_stdin_fails_per_line() -> None:
    out = _cli(["classify"], _input())
    assert out.exit_code == 0, out.output
    _check([json.loads(line) for line in out.stdout.splitlines()])


def test_classify_file_fails_per_line(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(_input())
    out = _cli(["classify", "--in", str(src), "--out", str(dst)])
    assert out.exit_code == 0, out.output
    _check([json.loads(line) for line in dst.read_text().splitlines()])


def test_a_line_the_classifier_rejects_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from switchyard.classifier.local import LocalClassifier

    real = LocalClassifier.classify_many

    def choke(self, texts, histories=None):
        if any("POISON" in t for t in texts):
            raise RuntimeError("tokenizer exploded")
        return real(self, texts, histories)

    monkeypatch.setattr(LocalClassifier, "classify_many", choke)
    lines = [_good(1, "I forgot my password"), _good(2, "POISON pill"), _good(3, "refund?")]
    out = _cli(["classify"], b"\n".join(lines) + b"\n")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert ["error" in r for r in rows] == [False, True, False]
    assert "tokenizer exploded" in rows[1]["error"]


def test_cache_probe_fails_per_line(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    good = json.dumps({"id": "p1", "a": "reset my password", "b": "how do I reset my password"})
    pairs.write_bytes(b"\n".join([
        good.encode(),
        b'{"id": "deep", "a": ' + b"[" * 1000 + b"]" * 1000 + b', "b": "x"}',
        b'{"id": "bad", "a": "\xff", "b": "x"}',
    ]) + b"\n")
    out = _cli(["cache", "probe", "--pairs", str(pairs)])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    by_id = {r.get("id") or r.get("line"): r for r in rows}
    assert "hit" in by_id["p1"]
    errors = [r["error"] for r in rows if "error" in r]
    assert len(errors) == 2 and any("nested" in e for e in errors)
    assert any("UTF-8" in e for e in errors)


def test_plan_log_skips_a_deep_line(tmp_path: Path) -> None:
    from switchyard.bench.plan import read_log

    log = tmp_path / "log.jsonl"
    log.write_bytes(b"\n".join([_good(1, "hello"), DEEP, _good(2, "refund")]) + b"\n")
    parsed = read_log(log)
    assert [line.line_no for line in parsed.lines] == [1, 3]
    assert parsed.skipped[0][0] == 2 and "nested" in parsed.skipped[0][1]
