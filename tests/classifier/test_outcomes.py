"""Routing learnt from outcomes: the outcome file, the quality-cost metrics, `route train
--outcomes`, `route eval --outcomes` and `route calibrate` (docs/outcomes.md)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
from support.homes import copy_home
from typer.testing import CliRunner

from switchyard.classifier.outcomes import (
    OutcomeFileError,
    curve,
    folds_by_hash,
    load_outcomes,
    oracle_curve,
    random_curve,
)
from switchyard.cli.main import app

runner = CliRunner()

# How likely each tier's answer is good, by the bundled label of the request's complexity: the
# synthetic outcomes the CLI tests learn from (a seeded draw, so every run sees the same file).
P_GOOD = {"low": {"fast": 0.92, "expert": 0.96},
          "medium": {"fast": 0.55, "expert": 0.93},
          "high": {"fast": 0.12, "expert": 0.9}}


def synthetic_outcomes(routing_dir: Path, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl"):
        for line in (routing_dir / name).read_text().splitlines():
            row = json.loads(line)
            p = P_GOOD[row["complexity"]]
            out.append({"text": row["text"], "weak": rng.random() < p["fast"],
                        "strong": rng.random() < p["expert"]})
    return out


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sy) -> Path:
    """A home of its own (the session's encoder and classifier, linked/copied): training on
    outcomes here never changes the session's routing."""
    h = copy_home(sy, tmp_path / "home")
    monkeypatch.setenv("SWITCHYARD_HOME", str(h))
    monkeypatch.delenv("SWITCHYARD_CONFIG", raising=False)
    return h


# -- the file --------------------------------------------------------------------------------
def test_both_forms_map_onto_tiers(tmp_path: Path) -> None:
    f = _write(tmp_path / "o.jsonl", [
        {"text": "q1", "weak": True, "strong": False},
        {"text": "q2", "history": ["earlier"], "outcomes": {"fast": 0.25, "expert": 1}},
        {"text": "q3", "outcomes": {"fast": False, "standard": 0.5, "expert": True}},
    ])
    rows = load_outcomes(f)
    assert rows[0].outcomes == {"fast": 1.0, "expert": 0.0}
    assert rows[1].outcomes == {"fast": 0.25, "expert": 1.0} and rows[1].history == ["earlier"]
    assert rows[2].outcomes == {"fast": 0.0, "standard": 0.5, "expert": 1.0}


def test_malformed_lines_are_reported_with_their_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text("\n".join([
        json.dumps({"text": "fine", "weak": True, "strong": True}),
        "{not json",
        json.dumps({"text": "", "weak": True, "strong": False}),
        json.dumps({"text": "q", "outcomes": {"fast": 1.5, "expert": 1}}),
        json.dumps({"text": "q", "outcomes": {"turbo": 1, "expert": 1}}),
        json.dumps({"text": "q", "weak": True}),
        json.dumps(["a", "list"]),
    ]) + "\n")
    with pytest.raises(OutcomeFileError) as err:
        load_outcomes(f)
    msg = str(err.value)
    assert [p.split(":")[0] for p in err.value.problems] == [f"line {n}" for n in range(2, 8)]
    for needle in ("not valid JSON", "'text'", "between 0 and 1", "unknown tier 'turbo'",
                   "both 'weak' and 'strong'", "JSON object"):
        assert needle in msg, msg
    # Valid JSON the checks above let through to a crash (a hostile sweep): an integer with no
    # float, one past Python's 4,300 digits, nesting that exhausts the recursion limit, and an
    # unpaired surrogate no encoder takes. Each is a line's problem, the file refused whole.
    h = tmp_path / "hostile.jsonl"
    h.write_text("\n".join([
        '{"text": "a", "weak": 1' + "0" * 400 + ', "strong": true}',
        '{"text": "a", "weak": ' + "1" * 5000 + ', "strong": true}',
        "[" * 200_000,
        '{"text": "bad \\ud800 surrogate", "weak": true, "strong": false}',
        '{"text": "ok", "history": ["x\\udfff"], "weak": true, "strong": false}',
        json.dumps({"text": "fine", "weak": True, "strong": True}),
    ]) + "\n")
    with pytest.raises(OutcomeFileError) as err:
        load_outcomes(h)
    assert [p.split(":")[0] for p in err.value.problems] == [f"line {n}" for n in range(1, 6)]
    for needle in ("got a huge number", "4300 digits", "nested deeper", "'text' holds an unpaired",
                   "'history' holds an unpaired"):
        assert needle in str(err.value), str(err.value)
    assert len(str(err.value)) < 1000
    # A file whose lines are fine but miss the dearest tier on one line.
    g = _write(tmp_path / "gap.jsonl", [{"text": "a", "outcomes": {"fast": 1, "expert": 0}},
                                        {"text": "b", "outcomes": {"fast": 1}}])
    with pytest.raises(OutcomeFileError, match="line 2: needs scores for both fast and expert"):
        load_outcomes(g)


def test_a_malformed_file_writes_nothing(home: Path, tmp_path: Path) -> None:
    before = {p.name: p.read_bytes() for p in (home / "classifier").iterdir()}
    good = [{"text": f"question {i}", "weak": i % 2 == 0, "strong": True} for i in range(40)]
    f = _write(tmp_path / "o.jsonl", good)
    f.write_text(f.read_text() + '{"text": "late", "weak": "yes", "strong": true}\n')
    res = runner.invoke(app, ["route", "train", "--outcomes", str(f)])
    assert res.exit_code != 0
    assert "line 41" in res.output and "'weak'" in res.output
    after = {p.name: p.read_bytes() for p in (home / "classifier").iterdir()}
    assert after == before  # no outcome head, the classifier untouched


# -- the metrics -----------------------------------------------------------------------------
def test_curve_metrics_follow_routellm() -> None:
    weak = np.array([1, 0, 0, 1, 0, 1, 1, 0], float)
    strong = np.array([1, 1, 1, 1, 0, 1, 0, 1], float)
    # The random router's expected curve is the diagonal.
    r = random_curve(weak, strong)
    assert r.apgr == pytest.approx(0.5) and r.cpt(0.5) == pytest.approx(0.5)
    # Strong answers 3 requests weak misses and misses 1 weak answers (gap: 2 of 8). A perfect
    # ranking closes the gap with 2 strong calls of 8, and PGR then goes above 1.
    o = oracle_curve(weak, strong)
    assert o.cpt(1.0) == pytest.approx(2 / 8) and o.pgr.max() == pytest.approx(1.5)
    assert o.apgr > 0.9
    # An inverted ranking is worse than random.
    inv = curve(-(strong - weak), weak, strong)
    assert inv.apgr < 0.5 < o.apgr
    # Ties are one block: a constant score is the random router, whatever the file order.
    assert curve(np.ones(8), weak, strong).apgr == pytest.approx(0.5)


def test_without_a_gap_to_recover_the_metrics_are_undefined() -> None:
    # Every answer good on both tiers (or the weak tier better): PGR divides by the gap, so
    # APGR and CPT are undefined, not 0 and 100% for every router (the random one included).
    both = np.ones(50)
    assert curve(np.arange(50.0), both, both).summary() == {
        "apgr": None, "cpt50": None, "cpt80": None, "cpt95": None}
    assert random_curve(both, np.zeros(50)).summary()["apgr"] is None
    assert random_curve(np.zeros(50), both).summary()["apgr"] == pytest.approx(0.5)


def test_folds_follow_the_prompt_not_the_line() -> None:
    from switchyard.classifier.outcomes import Outcome

    rows = [Outcome(text=f"q{i % 30}", outcomes={"fast": 1.0, "expert": 1.0}) for i in range(90)]
    fold = folds_by_hash(rows, 2)
    by_text: dict[str, set[int]] = {}
    for r, f in zip(rows, fold, strict=True):
        by_text.setdefault(r.text, set()).add(int(f))
    assert all(len(v) == 1 for v in by_text.values()) and set(fold.tolist()) == {0, 1}


# -- train, eval, calibrate ------------------------------------------------------------------
def test_train_eval_and_calibrate_on_outcomes(home: Path, tmp_path: Path, sy) -> None:
    from switchyard.app import Switchyard
    from switchyard.core.settings import Settings

    rows = synthetic_outcomes(sy.settings.routing_data_dir)
    rng = random.Random(3)
    rng.shuffle(rows)
    n = len(rows)
    train = _write(tmp_path / "train.jsonl", rows[: n // 3])
    calib = _write(tmp_path / "calib.jsonl", rows[n // 3: 2 * n // 3])
    held = _write(tmp_path / "held.jsonl", rows[2 * n // 3:])

    # Cross-validated on one file: the router beats the random router and the baseline's
    # figures are reported beside it.
    res = runner.invoke(app, ["route", "eval", "--outcomes", str(train), "--folds", "2", "--json",
                              "--chart", str(tmp_path / "curve.png")])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    for who in ("router", "baseline_lr_embedding", "random", "oracle"):
        assert set(rep[who]) == {"apgr", "cpt50", "cpt80", "cpt95"}
    assert rep["random"]["apgr"] == pytest.approx(0.5, abs=1e-3)
    assert rep["router"]["apgr"] > 0.6 and rep["router"]["cpt50"] < 0.45
    assert (tmp_path / "curve.png").stat().st_size > 10_000

    res = runner.invoke(app, ["route", "train", "--outcomes", str(train)])
    assert res.exit_code == 0, res.output
    assert (home / "classifier" / "outcome.json").exists()

    # The dial: 20% of requests to the expert, calibrated on one file, holds on another.
    overlay = tmp_path / "overlay.json"
    overlay.write_text(json.dumps({"offline": True}))
    res = runner.invoke(app, ["route", "calibrate", "--outcomes", str(calib), "--expert-share",
                              "0.2", "--write", str(overlay), "--json"])
    assert res.exit_code == 0, res.output
    point = json.loads(res.stdout)
    assert point["share"]["expert"] == pytest.approx(0.2, abs=0.005)
    written = json.loads(overlay.read_text())
    assert written["offline"] is True  # the rest of the overlay is kept
    assert written["classifier"]["outcome_cost_weight"] == point["cost_weight"]

    os.environ["SWITCHYARD_CONFIG"] = str(overlay)  # restored by the home fixture's monkeypatch
    try:
        res = runner.invoke(app, ["route", "eval", "--outcomes", str(held), "--json"])
        shown = runner.invoke(app, ["models"])
    finally:
        del os.environ["SWITCHYARD_CONFIG"]
    assert res.exit_code == 0, res.output
    assert shown.exit_code == 0, shown.output
    assert (f"learnt from {n // 3:,} outcomes (fast, expert" in shown.output
            and f"outcome_cost_weight {point['cost_weight']:g}" in shown.output), shown.output
    op = json.loads(res.stdout)["operating_point"]
    assert op["cost_weight"] == point["cost_weight"]
    assert abs(op["share"]["expert"] - 0.2) <= 0.02, op

    # The graph routes with it, and intents and scope survive training on outcomes that have
    # neither.
    settings = Settings(classifier={"outcome_cost_weight": point["cost_weight"]})
    mine = Switchyard(settings, encoder=sy.encoder)
    poem = mine.classifier.classify("write me a poem about autumn")
    assert poem.in_scope is False and poem.recommended_agent == "fast"
    hard = mine.classifier.classify("Plan our migration of 12,000 users and 300 GB of data, "
                                    "with a rollout schedule and a cost estimate")
    assert hard.recommended_agent == "expert" and hard.quality["expert"] > hard.quality["fast"]
    assert hard.intent != "out_of_scope" and "outcome-trained" in hard.reasoning
    easy = mine.classifier.classify("I forgot my password")
    assert easy.recommended_agent == "fast" and easy.intent == "password_reset"


def test_bad_arguments_are_refused_before_the_work_and_lose_nothing(home: Path, tmp_path: Path,
                                                                     sy) -> None:
    """A hostile sweep of the commands' arguments: each was an 'unexpected' error after the
    whole evaluation (or calibration), a report lost, a wrong path printed, or a weight written
    for a target the data could not meet."""
    rows = synthetic_outcomes(sy.settings.routing_data_dir)[:200]
    f = _write(tmp_path / "o.jsonl", rows)
    assert runner.invoke(app, ["route", "train", "--outcomes", str(f)]).exit_code == 0

    def refused(*args: str) -> str:
        res = runner.invoke(app, list(args))
        assert res.exit_code in (1, 2), (args, res.output)
        assert "unexpected" not in res.output and "Traceback" not in res.output, res.output
        return " ".join(res.output.replace("│", " ").split())

    # More folds than distinct requests: said before a request is embedded.
    assert "leaves" in refused("route", "eval", "--outcomes", str(f), "--folds", "201")
    # A chart that cannot be written or is not a PNG; a report with it is not lost.
    (tmp_path / "a-file").write_text("x")
    assert "cannot be written" in refused("route", "eval", "--outcomes", str(f), "--json",
                                          "--chart", str(tmp_path / "a-file" / "c.png"))
    assert "is a PNG file" in refused("route", "eval", "--outcomes", str(f), "--chart",
                                      str(tmp_path / "c.txt"))
    charts = tmp_path / "charts"
    charts.mkdir()
    for given, written in ((charts, charts / "route-eval.png"),
                           (tmp_path / "noext", tmp_path / "noext.png")):
        res = runner.invoke(app, ["route", "eval", "--outcomes", str(f), "--json", "--chart",
                                  str(given)])
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["chart"] == str(written) and written.stat().st_size > 0

    # Overlays: a directory or a read-only file is refused at once; permissions and links kept.
    cal = ["route", "calibrate", "--outcomes", str(f), "--expert-share", "0.2", "--write"]
    assert "is a directory" in refused(*cal, str(charts))
    ro = tmp_path / "ro.json"
    ro.write_text('{"a": 1}')
    ro.chmod(0o444)
    assert "read-only" in refused(*cal, str(ro))
    assert ro.read_text() == '{"a": 1}'
    private = tmp_path / "private.json"
    private.write_text('{"a": 1}')
    private.chmod(0o600)
    link = tmp_path / "link.json"
    link.symlink_to(private.name)
    assert runner.invoke(app, [*cal, str(link)]).exit_code == 0
    assert link.is_symlink() and (private.stat().st_mode & 0o777) == 0o600
    assert json.loads(private.read_text())["classifier"]["outcome_cost_weight"] > 0

    # A device or a pipe is never written (a FIFO blocked the command for ever), and an
    # overlay nested too deeply is refused, not a RecursionError.
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    assert "not a regular file" in refused(*cal, str(fifo))
    deep = tmp_path / "deep.json"
    deep.write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    assert "is not a JSON settings file" in refused(*cal, str(deep))

    # A target the data cannot meet writes nothing, and says what the data allows.
    before = private.read_bytes()
    assert "sends" in refused("route", "calibrate", "--outcomes", str(f), "--expert-share", "1",
                              "--write", str(private))
    no_expert = _write(tmp_path / "never.jsonl",
                       [{"text": r["text"], "weak": r["weak"], "strong": False} for r in rows])
    assert "cannot be measured" in refused("route", "calibrate", "--outcomes", str(no_expert),
                                           "--min-quality", "0.9", "--write", str(private))
    assert private.read_bytes() == before

    # SWITCHYARD_CONFIG may name the overlay calibrate is to create.
    fresh = tmp_path / "fresh.json"
    os.environ["SWITCHYARD_CONFIG"] = str(fresh)  # restored by the home fixture's monkeypatch
    try:
        res = runner.invoke(app, ["route", "calibrate", "--outcomes", str(f), "--expert-share",
                                  "0.2"])
    finally:
        del os.environ["SWITCHYARD_CONFIG"]
    assert res.exit_code == 0, res.output
    assert "outcome_cost_weight" in json.loads(fresh.read_text())["classifier"]


def test_feedback_from_one_tier_trains_beside_an_outcome_file(home: Path, tmp_path: Path, sy,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Ratings of one tier alone cannot teach a choice between tiers, but beside an outcome
    file (`--from-feedback --outcomes`, "both") they can: the check is on what is trained on."""
    from switchyard.classifier.outcomes import Outcome
    from switchyard.cli import outcome_routing

    rated = [Outcome(text=f"rated question {i}", outcomes={"fast": float(i % 2)}) for i in range(30)]
    monkeypatch.setattr(outcome_routing, "feedback_outcomes", lambda sy: list(rated))
    alone = runner.invoke(app, ["route", "train", "--from-feedback"])
    assert alone.exit_code == 2 and "found only fast" in alone.output, alone.output
    f = _write(tmp_path / "o.jsonl", synthetic_outcomes(sy.settings.routing_data_dir)[:100])
    both = runner.invoke(app, ["route", "train", "--from-feedback", "--outcomes", str(f)])
    assert both.exit_code == 0, both.output
    assert "fitted on 130 outcomes" in both.output


def test_an_unreadable_feedback_store_is_named(home: Path) -> None:
    store = home / "feedback.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    store.write_bytes(b"not a database at all " * 300)
    res = runner.invoke(app, ["route", "train", "--from-feedback"])
    assert res.exit_code == 1 and "unexpected" not in res.output, res.output
    assert f"{store} is not a feedback database" in " ".join(res.output.split())
    assert store.read_bytes() == b"not a database at all " * 300  # left for the user to recover
