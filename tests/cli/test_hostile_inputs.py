"""Hostile inputs to `classify`, `eval`, `plan` and `cache probe`: a usage error naming the file
(and line) before any work, never an erased input, invalid JSON out, or the CLI's catch-all.

The model side is stubbed: these checks happen before it, or around it."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from switchyard.cli.main import app

runner = CliRunner()


def _verdict(text: str) -> SimpleNamespace:
    return SimpleNamespace(complexity="low", recommended_agent="fast", confidence=0.9,
                           intent="greeting", requires_auth=False, tools_needed=[],
                           in_scope=True, follow_up=False,
                           scores={"low": 0.9, "medium": 0.1, "high": 0.0},
                           classifier="stub", cost_usd=0.0)


class _Classifier:
    def classify_many(self, texts: list[str], histories: Any = None) -> list[SimpleNamespace]:
        return [_verdict(t) for t in texts]


class _StubSwitchyard:
    """What the commands use of a Switchyard, without a model or a home."""

    def __init__(self, settings: Any = None) -> None:
        self.settings = SimpleNamespace(max_input_chars=10_000, cache=SimpleNamespace())
        self.classifier = _Classifier()
        self.encoder = SimpleNamespace(embed=lambda texts: None)

    @classmethod
    def for_batch(cls) -> _StubSwitchyard:
        return cls()

    @classmethod
    @contextlib.contextmanager
    def open(cls) -> Any:
        yield cls()

    def __enter__(self) -> _StubSwitchyard:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> None:
    import switchyard.app
    import switchyard.bench.plan
    import switchyard.cache.calibration

    monkeypatch.setattr(switchyard.app, "Switchyard", _StubSwitchyard)
    monkeypatch.setattr(switchyard.bench.plan, "plan_from_log",
                        lambda *a, **k: ({"skipped": [], "requests": 0}, "# plan\n"))
    monkeypatch.setattr(switchyard.cache.calibration, "run_pairs", lambda *a, **k: [])


def _strict(line: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(line, parse_constant=refuse)


# -- 1. classify --in X --out X -----------------------------------------------------------------
def test_classify_refuses_to_overwrite_its_input(tmp_path: Path, stub: None) -> None:
    f = tmp_path / "req.jsonl"
    body = '{"id": 1, "text": "reset my password"}\n'
    f.write_text(body)
    res = runner.invoke(app, ["classify", "--in", str(f), "--out", str(f)])
    assert res.exit_code == 2, res.output
    assert "--in file" in res.output
    assert f.read_text() == body
    link = tmp_path / "link.jsonl"
    link.symlink_to(f)
    res = runner.invoke(app, ["classify", "--in", str(f), "--out", str(link)])
    assert res.exit_code == 2 and f.read_text() == body, res.output


# -- 2 and 7. ids that are not standard JSON / not UTF-8 ---------------------------------------
@pytest.mark.parametrize("raw_id", ["NaN", "Infinity", "-Infinity", "[1, NaN]", '"\\ud800"',
                                    '{"k": "a\\udfff"}'])
def test_classify_reports_an_unwritable_id_as_a_bad_line(tmp_path: Path, stub: None,
                                                         raw_id: str) -> None:
    f = tmp_path / "req.jsonl"
    f.write_text(f'{{"id": {raw_id}, "text": "reset my password"}}\n'
                 '{"id": 7, "text": "refund my invoice"}\n')
    out = tmp_path / "out.jsonl"
    res = runner.invoke(app, ["classify", "--in", str(f), "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = [_strict(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2
    assert rows[0]["line"] == 1 and "'id'" in rows[0]["error"] and rows[0]["id"] is None
    assert rows[1]["id"] == 7 and rows[1]["agent"] == "fast"
    assert "2 lines" in res.stderr and "1 errors" in res.stderr


def test_classify_lone_surrogate_id_on_stdout_does_not_abort(tmp_path: Path, stub: None) -> None:
    f = tmp_path / "req.jsonl"
    f.write_text('{"id": "\\ud800", "text": "hi there"}\n{"id": 2, "text": "hello"}\n')
    res = runner.invoke(app, ["classify", "--in", str(f)])
    assert res.exit_code == 0, res.output
    rows = [_strict(line) for line in res.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2] and "error" in rows[0] and rows[1]["id"] == 2


# -- 3. eval --k --------------------------------------------------------------------------------
@pytest.mark.parametrize("k", ["0", "-3"])
def test_eval_k_must_be_positive(stub: None, monkeypatch: pytest.MonkeyPatch, k: str) -> None:
    from switchyard.cli.commands import eval as eval_mod

    monkeypatch.setattr(eval_mod, "check_suite_data", lambda *a, **kw: None)
    monkeypatch.setattr(eval_mod, "check_suite_files", lambda *a, **kw: None, raising=False)
    monkeypatch.setattr(eval_mod, "run_suites", lambda *a, **kw: {})
    res = runner.invoke(app, ["eval", "-s", "retrieval", "--k", k])
    assert res.exit_code == 2, res.output
    assert "--k" in res.output


# -- 4. plan: impossible timestamps ------------------------------------------------------------
@pytest.mark.parametrize("ts", ["1e300", "-1e300", "1.7e308", "1718000000000", "-5",
                                '"0001-01-01T00:00:00Z"', '"9999-12-31T00:00:00Z"'])
def test_plan_skips_an_impossible_timestamp(tmp_path: Path, ts: str) -> None:
    from switchyard.bench.plan import read_log

    f = tmp_path / "log.jsonl"
    f.write_text(f'{{"text": "reset my password", "ts": {ts}}}\n'
                 '{"text": "refund my invoice", "ts": 1718000000}\n'
                 '{"text": "webhook fails", "ts": "2025-06-10T09:00:00Z"}\n')
    log = read_log(f)
    assert [x.line_no for x in log.lines] == [2, 3]
    assert log.skipped and log.skipped[0][0] == 1 and "ts" in log.skipped[0][1]


# -- 5. eval's input files ----------------------------------------------------------------------
GOOD = {"routing": {"text": "reset my password", "complexity": "low", "intent": "password_reset"},
        "retrieval": {"question": "how do I reset my password", "article": "passwords"},
        "tools": {"request": "show my invoices", "tier": "standard", "expected": ["list_invoices"]}}
BAD = {  # (second line, what the message says)
    "not json": ("{not json", "not valid JSON"),
    "a list": ('["text", "low"]', "got list"),
    "missing keys": ("{}", "missing"),
    "wrong types": ('{"text": 5, "question": 5, "request": 5, "complexity": 5, "article": 5, '
                    '"tier": "standard", "expected": "x"}', "must be"),
    "lone surrogate": ('{"text": "\\ud800", "question": "\\ud800", "request": "\\ud800", '
                       '"complexity": "low", "article": "a", "tier": "expert", "expected": ["t"]}',
                       "lone surrogate"),
}


@pytest.fixture
def pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A pack with one file per suite, handed to `eval` through its settings."""
    root = tmp_path / "pack"
    (root / "routing").mkdir(parents=True)
    files = {"routing": root / "routing" / "test.jsonl", "retrieval": root / "retrieval.jsonl",
             "tools": root / "tools.jsonl"}
    for suite, path in files.items():
        path.write_text(json.dumps(GOOD[suite]) + "\n")
    settings = SimpleNamespace(
        routing_data_dir=root / "routing",
        pack=SimpleNamespace(data_file=lambda key: files["retrieval" if key == "retrieval_eval"
                                                        else "tools"]))
    import switchyard.core.settings
    from switchyard.cli.commands import eval as eval_mod

    monkeypatch.setattr(switchyard.core.settings, "get_settings", lambda: settings)
    monkeypatch.setattr(eval_mod, "run_suites", lambda *a, **kw: {})  # the files are the test
    return root


def _file(pack: Path, suite: str) -> Path:
    return {"routing": pack / "routing" / "test.jsonl", "retrieval": pack / "retrieval.jsonl",
            "tools": pack / "tools.jsonl"}[suite]


@pytest.mark.parametrize("suite", ["routing", "retrieval", "tools"])
@pytest.mark.parametrize("case", list(BAD))
def test_eval_names_the_bad_line_of_its_file(pack: Path, stub: None, suite: str, case: str) -> None:
    line, says = BAD[case]
    f = _file(pack, suite)
    f.write_text(json.dumps(GOOD[suite]) + "\n" + line + "\n")
    res = runner.invoke(app, ["eval", "-s", suite])
    assert res.exit_code == 2, res.output
    assert f"{f}: line 2: " in res.stderr and says in res.stderr, res.stderr
    assert "unexpected" not in res.output


@pytest.mark.parametrize("suite", ["routing", "retrieval", "tools"])
def test_eval_refuses_a_bom_and_an_empty_file(pack: Path, stub: None, suite: str) -> None:
    f = _file(pack, suite)
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD[suite]).encode() + b"\n")
    res = runner.invoke(app, ["eval", "-s", suite])
    assert res.exit_code == 2 and f"{f}: line 1: " in res.stderr and "byte-order mark" in res.stderr
    f.write_text("\n  \n")
    res = runner.invoke(app, ["eval", "-s", suite])
    assert res.exit_code == 2 and f"{f}: no rows" in res.stderr, res.output


def test_eval_accepts_good_files(pack: Path, stub: None) -> None:
    res = runner.invoke(app, ["eval", "--json"])
    assert res.exit_code == 0, res.output


def test_eval_file_missing_or_a_directory(tmp_path: Path) -> None:
    from switchyard.cli.commands.eval import EvalFileError, validate_eval_file

    with pytest.raises(EvalFileError, match="no such file"):
        validate_eval_file(tmp_path / "nope.jsonl", "retrieval")
    with pytest.raises(EvalFileError, match="is a directory"):
        validate_eval_file(tmp_path, "tools")


# -- 6. unusable paths --------------------------------------------------------------------------
@pytest.fixture
def files(tmp_path: Path) -> SimpleNamespace:
    req = tmp_path / "req.jsonl"
    req.write_text('{"id": 1, "text": "reset my password"}\n')
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"id": "p1", "a": "reset my password", "b": "how to reset my password"}\n')
    log = tmp_path / "log.jsonl"
    log.write_text('{"text": "reset my password"}\n')
    afile = tmp_path / "afile"
    afile.write_text("x")
    return SimpleNamespace(tmp=tmp_path, req=req, pairs=pairs, log=log, afile=afile)


def _usage_error(res: Any) -> None:
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert "unexpected" not in res.output and "Invalid value" in res.output, res.output


def test_classify_unusable_paths(files: SimpleNamespace, stub: None) -> None:
    _usage_error(runner.invoke(app, ["classify", "--in", str(files.tmp / "nope.jsonl")]))
    _usage_error(runner.invoke(app, ["classify", "--in", str(files.tmp)]))
    _usage_error(runner.invoke(app, ["classify", "--in", str(files.req), "--out", str(files.tmp)]))
    _usage_error(runner.invoke(app, ["classify", "--in", str(files.req), "--out",
                                     str(files.afile / "x")]))


def test_cache_probe_unusable_out(files: SimpleNamespace, stub: None) -> None:
    for out in (files.tmp, files.afile / "x.jsonl", files.pairs):
        _usage_error(runner.invoke(app, ["cache", "probe", "--pairs", str(files.pairs),
                                         "--out", str(out)]))
    assert files.pairs.read_text().startswith('{"id": "p1"')
    res = runner.invoke(app, ["cache", "probe", "--pairs", str(files.pairs), "--out",
                              str(files.tmp / "nodir" / "x.jsonl")])
    assert res.exit_code == 0, res.output


def test_plan_unusable_out(files: SimpleNamespace, stub: None) -> None:
    for out in (files.tmp, files.afile / "x.md", files.log):
        _usage_error(runner.invoke(app, ["plan", "--log", str(files.log), "--out", str(out)]))
    assert files.log.read_text() == '{"text": "reset my password"}\n'
    res = runner.invoke(app, ["plan", "--log", str(files.log), "--out", str(files.tmp / "p.md")])
    assert res.exit_code == 0 and (files.tmp / "p.md").read_text() == "# plan\n", res.output


def test_eval_retrieval_names_the_bad_line_of_its_file(tmp_path: Path, stub: None) -> None:
    bad = tmp_path / "r.jsonl"
    bad.write_text('{"question": "how?", "article": "a"}\n{not json\n["a list"]\n')
    res = runner.invoke(app, ["eval-retrieval", "--path", str(bad)])
    assert res.exit_code == 2, res.output
    assert f"{bad}: line 2: not valid JSON" in res.output and "line 3" in res.output
    assert "unexpected" not in res.output


@pytest.mark.parametrize("args", [["ask", "hi", "--user", "a\udcffb"],
                                  ["cache", "clear", "--user", "a\udcffb"],
                                  ["db", "migrate", "--url", "postgresql://a\udcff@h/d"]])
def test_an_argument_that_is_not_utf8_is_a_usage_error(args: list[str]) -> None:
    # Bytes that are not UTF-8 reach Python as lone surrogates (surrogateescape); they failed
    # later as "unexpected UnicodeEncodeError", wherever the value was first written or hashed.
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    shown = " ".join(res.output.replace("│", " ").split())
    assert "is not valid UTF-8 text" in shown and "unexpected" not in shown


def test_a_file_error_outside_the_home_names_the_file_not_the_home(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from switchyard.cli.main import friendly_error

    monkeypatch.setenv("SWITCHYARD_HOME", str(tmp_path / "home"))
    outside = friendly_error(PermissionError(13, "Permission denied", "/proc/version"))
    assert outside == "cannot write or read /proc/version: Permission denied"
    inside = friendly_error(PermissionError(13, "Permission denied", str(tmp_path / "home" / "x")))
    assert "SWITCHYARD_HOME" in inside


def test_an_outdated_database_schema_is_said_plainly() -> None:
    # `switchyard setup` with a database URL before `db migrate` ended in "unexpected
    # SchemaOutdated" (a PostgreSQL sweep); the message itself says what to run.
    from switchyard.cli.main import friendly_error
    from switchyard.pg.schema import SchemaOutdated

    said = friendly_error(SchemaOutdated("the schema is at version 0; run `switchyard db migrate`"))
    assert said == "the schema is at version 0; run `switchyard db migrate`"
