"""``switchyard bench`` refuses bad input up front, with a usage error, before it builds or
writes anything: absurd sizes, a mix that is no proportion, a malformed ``--data`` file (every
bad line listed) and an ``--out`` that cannot be written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from switchyard.bench import MAX_CONCURRENCY, MAX_REQUESTS
from switchyard.bench.workload import BenchDataError, build_workload, load_rows, parse_mix
from switchyard.cli.main import app

GOOD = [
    {"text": "How do I reset my password?", "complexity": "low", "intent": "password_reset"},
    {"text": "Our webhooks fail with 401, what should we check?", "complexity": "medium"},
    {"text": "Plan our migration of 3,000 users", "complexity": "high", "in_scope": True,
     "outcomes": {"fast": 0, "standard": 1, "expert": 1}},
]


def _bench(*args: str):
    return CliRunner().invoke(app, ["bench", "--time-scale", "0.001", *args])


def _write(path: Path, lines: list[str | bytes]) -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return path


@pytest.fixture
def never_runs(monkeypatch):
    """Fails the test if the bench got as far as running a configuration."""
    import switchyard.bench.run as run

    def boom(*a, **k):
        raise AssertionError("the bench ran before refusing its input")

    monkeypatch.setattr(run, "run_bench", boom)


# -- 1. sizes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["-n", "1000000000"], ["-n", str(MAX_REQUESTS + 1)],
                                  ["-c", "100000000"], ["-c", str(MAX_CONCURRENCY + 1)]])
def test_absurd_sizes_are_usage_errors(args, never_runs, tmp_path):
    res = _bench(*args, "--out", str(tmp_path / "out"))
    assert res.exit_code == 2, res.output
    assert "less than or equal" in res.output and "unexpected" not in res.output
    assert not (tmp_path / "out").exists()


def test_build_workload_refuses_more_than_the_cap(settings):
    with pytest.raises(ValueError, match="at most"):
        build_workload(MAX_REQUESTS + 1, settings=settings)


# -- 2. --data ------------------------------------------------------------------------------------
BAD_LINES: list[tuple[str | bytes, str]] = [
    ("nope", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"text": "hi"}', "'complexity' must be one of low, medium, high (missing)"),
    ('{"text": "hi", "complexity": "extreme"}', "'complexity' must be one of"),
    ('{"text": "hi", "complexity": ["low"]}', "'complexity' must be one of"),
    ('{"text": 5, "complexity": "low"}', "'text' must be a non-empty string"),
    ('{"text": "hi", "complexity": "low", "history": 5}', "'history' must be a list of strings"),
    ('{"text": "hi", "complexity": "low", "in_scope": "no"}', "'in_scope' must be true or false"),
    ('{"text": "hi \\ud800", "complexity": "low"}', "unpaired surrogate"),
    (b'{"text": "\xff", "complexity": "low"}', "not valid UTF-8"),
    ("[" * 5000 + "]" * 5000, "nested deeper"),
    ('{"text": "x", "complexity": "low", "outcomes": {"fast": NaN, "expert": 1}}',
     "outcomes.fast must be between 0 and 1"),
    ('{"text": "x", "complexity": "low", "outcomes": {"fast": 1e308, "expert": 1}}',
     "outcomes.fast must be between 0 and 1"),
    ('{"text": "x", "complexity": "low", "outcomes": {"gpt": 1}}', "unknown tier 'gpt'"),
    ('{"text": "x", "complexity": "low", "strong": 1}', "needs both 'weak' and 'strong'"),
]


def test_a_bad_data_file_is_refused_with_every_bad_line(tmp_path, never_runs):
    lines = [json.dumps(r) for r in GOOD] + [bad for bad, _ in BAD_LINES]
    data = _write(tmp_path / "bad.jsonl", lines)
    res = _bench("-n", "5", "--data", str(data), "--out", str(tmp_path / "out"))
    assert res.exit_code == 2, res.output
    assert "unexpected" not in res.output and "nothing was run or written" in res.output
    for n, (_, reason) in enumerate(BAD_LINES, len(GOOD) + 1):
        assert f"line {n}: " in res.output and reason in res.output, (n, reason, res.output)
    assert not (tmp_path / "out").exists()


def test_the_list_of_bad_lines_is_capped(tmp_path):
    data = _write(tmp_path / "bad.jsonl", ["nope"] * 50)
    with pytest.raises(BenchDataError) as err:
        load_rows(data)
    assert len(err.value.problems) == 50 and "... and 30 more" in str(err.value)
    res = _bench("-n", "5", "--data", str(data), "--out", str(tmp_path / "out"))
    assert res.exit_code == 2 and "line 20:" in res.output and "line 21:" not in res.output
    assert "... and 30 more" in res.output


@pytest.mark.parametrize("kind", ["missing", "directory", "empty", "blank", "one_complexity"])
def test_unusable_data_files_are_refused(kind, tmp_path, never_runs):
    data = tmp_path / "data.jsonl"
    if kind == "directory":
        data.mkdir()
    elif kind == "empty":
        data.write_bytes(b"")
    elif kind == "blank":
        data.write_text("\n  \n\t\n")
    elif kind == "one_complexity":
        _write(data, [json.dumps(GOOD[2])])
    res = _bench("-n", "5", "--data", str(data), "--out", str(tmp_path / "out"))
    assert res.exit_code == 2, res.output
    assert "unexpected" not in res.output and "cannot be used" in res.output
    expected = {"missing": "No such file", "directory": "Is a directory", "empty": "no labelled rows",
                "blank": "no labelled rows", "one_complexity": "no rows of complexity 'low'"}[kind]
    assert expected in res.output
    assert not (tmp_path / "out").exists()


def test_good_data_with_a_bom_and_crlf_line_ends_is_read(tmp_path):
    raw = ("\ufeff" + "\r\n".join(json.dumps(r) for r in GOOD) + "\r\n").encode()
    (tmp_path / "ok.jsonl").write_bytes(raw)
    rows = load_rows(tmp_path / "ok.jsonl", mix=(0.65, 0.30, 0.05))
    assert [r.complexity for r in rows] == ["low", "medium", "high"]
    assert rows[1].intent == "general_medium" and dict(rows[2].outcomes)["expert"] == 1.0
    # A mix without high needs no high rows.
    assert load_rows(_write(tmp_path / "lo.jsonl", [json.dumps(GOOD[0])]), mix=(1, 0, 0))


# -- 3. --mix -------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["nan,1,1", "inf,1,1", "1,-inf,1", "1e308,1e308,1", "1,nan,nan"])
def test_a_mix_that_is_no_proportion_is_a_usage_error(raw, never_runs, tmp_path):
    with pytest.raises(ValueError, match="non-negative"):
        parse_mix(raw)
    res = _bench("-n", "5", "--mix", raw, "--out", str(tmp_path / "out"))
    assert res.exit_code == 2, res.output
    assert "--mix" in res.output and "unexpected" not in res.output


# -- 4. --out -------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["a_file", "under_a_file", "proc", "seeds_under_a_file"])
def test_an_unwritable_out_is_refused_before_the_run(where, tmp_path, never_runs):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    out = {"a_file": afile, "under_a_file": afile / "x", "proc": Path("/proc/switchyard-x"),
           "seeds_under_a_file": afile / "y"}[where]
    extra = ["--seeds", "1,2"] if where.startswith("seeds") else []
    res = _bench("-n", "5", "--out", str(out), *extra)
    assert res.exit_code == 2, res.output
    assert "--out" in res.output and "unexpected" not in res.output
    assert afile.read_text() == "keep me"


def test_out_is_made_and_probed_before_the_run(tmp_path, never_runs):
    out = tmp_path / "new" / "out"
    res = _bench("-n", "5", "--out", str(out))
    # The folder was made and probed (and the probe removed); the patched run then refused.
    assert out.is_dir() and list(out.iterdir()) == []
    assert "the bench ran before refusing its input" in res.output, res.output
