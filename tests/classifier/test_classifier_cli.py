"""`switchyard classify` and `switchyard route eval|train`, through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from switchyard.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def fitted(sy) -> None:
    """The session's home holds a fitted classifier before the CLI runs."""


def test_classify_keeps_every_line_in_order() -> None:
    lines = [
        json.dumps({"id": "a", "text": "I forgot my password"}),
        "{not json",
        "",
        json.dumps({"id": "b", "text": "   "}),
        json.dumps(["a", "list"]),
        json.dumps({"id": 7, "text": "yes, please do that",
                    "history": ["I want to migrate 10K users from our old system to yours. What's the best approach?"]}),
        json.dumps({"text": "write me a poem about autumn"}),
        json.dumps({"id": "c", "text": 42}),
    ]
    res = runner.invoke(app, ["classify"], input="\n".join(lines) + "\n")
    assert res.exit_code == 0, res.output
    out = [json.loads(x) for x in res.stdout.strip().splitlines()]
    assert len(out) == len(lines)
    assert [o["line"] for o in out] == list(range(1, len(lines) + 1))
    assert out[0]["id"] == "a" and out[0]["agent"] == "fast" and out[0]["complexity"] == "low"
    for key in ("id", "complexity", "agent", "confidence", "intent", "requires_auth", "tools_needed", "in_scope"):
        assert key in out[0]
    assert "not valid JSON" in out[1]["error"] and "line 2" in out[1]["error"]
    assert "empty line" in out[2]["error"]
    assert out[3]["id"] == "b" and "empty" in out[3]["error"]
    assert "JSON object" in out[4]["error"]
    assert out[5]["id"] == 7 and out[5]["agent"] == "expert" and out[5]["follow_up"]
    assert out[6]["id"] == 7  # no id given: defaults to the line number
    assert out[6]["in_scope"] is False and out[6]["agent"] == "fast"
    assert "must be a string" in out[7]["error"]


def test_classify_files(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t in enumerate(
        ["What's my account balance?", "Our webhooks fail with WH-401 since we rotated the secret"])) + "\n")
    res = runner.invoke(app, ["classify", "--in", str(src), "--out", str(dst)])
    assert res.exit_code == 0, res.output
    out = [json.loads(x) for x in dst.read_text().splitlines()]
    assert [o["agent"] for o in out] == ["fast", "standard"]


def test_route_eval_on_a_labelled_file(tmp_path: Path) -> None:
    f = tmp_path / "mine.jsonl"
    rows = [
        {"text": "I forgot my password", "complexity": "low"},
        {"text": "How much is the Business plan?", "complexity": "low"},
        {"text": "Our webhook deliveries fail with WH-401", "complexity": "medium"},
        {"text": "Plan our migration of 12,000 users and 300 GB of data", "complexity": "high"},
        {"text": "write me a poem about autumn", "complexity": "low", "in_scope": False},
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    res = runner.invoke(app, ["route", "eval", "--labeled", str(f)])
    assert res.exit_code == 0, res.output
    for needle in ("tier accuracy", "high recall", "confusion", "over-routing", "cascade_threshold"):
        assert needle in res.output
    res = runner.invoke(app, ["route", "eval", "--labeled", str(f), "--json"])
    rep = json.loads(res.stdout)
    assert rep["n"] == 5 and rep["tier_accuracy"] == 1.0 and "suggestions" in rep
    assert rep["costs"]["mix_overspend_pct"] == 0.0  # perfect routing spends what perfect routing spends


def test_mix_overspend_weights_mistakes_by_real_traffic() -> None:
    from switchyard.classifier.data import Example
    from switchyard.classifier.metrics import mix_overspend

    rows = [Example(text=f"q{i}", complexity=c, intent="x") for i, c in enumerate(["low", "low", "medium", "high"])]
    price = {"fast": 1.0, "standard": 10.0, "expert": 100.0}
    ideal = 0.65 * 1 + 0.30 * 10 + 0.05 * 100
    # One of the two low requests sent to the expert: the low tier's mean price becomes 50.5.
    got = mix_overspend(rows, ["expert", "fast", "standard", "expert"], price)
    assert abs(got - ((0.65 * 50.5 + 0.30 * 10 + 0.05 * 100) / ideal - 1)) < 1e-9
    assert mix_overspend(rows, ["fast", "fast", "standard", "expert"], price) == 0.0


def test_route_train_on_own_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sy) -> None:
    from switchyard.app import Switchyard
    from switchyard.core.settings import Settings

    monkeypatch.setenv("SWITCHYARD_HOME", str(tmp_path / "home"))
    f = tmp_path / "mine.jsonl"
    texts = {
        "low": ["reset my password", "what's my balance", "send me my last invoice", "what plan am I on",
                "how do I change my email", "is the service down"],
        "high": ["plan a migration of 20k users with cost estimates", "design our enterprise rollout",
                 "analyze our usage and give strategic recommendations", "review our integration architecture",
                 "build a 3 year cost optimisation strategy", "assess our GDPR compliance"],
    }
    f.write_text("".join(json.dumps({"text": t, "complexity": c}) + "\n" for c, ts in texts.items() for t in ts))
    res = runner.invoke(app, ["route", "train", "--labeled", str(f)])
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "home" / "classifier" / "manifest.json").read_text())
    assert manifest["source"].startswith("custom:")
    mine = Switchyard(Settings(), encoder=sy.encoder)  # a new process on that home
    assert mine.classifier.classify("please migrate 15k users for us, with a cost plan").complexity == "high"
    # A new model format refits from the user's own file, never silently from the bundled data.
    from switchyard.classifier.local import load_or_fit

    path = tmp_path / "home" / "classifier" / "manifest.json"
    path.write_text(json.dumps({**manifest, "version": 1}))
    refit = load_or_fit(path.parent, sy.encoder, mine.settings.routing_data_dir)
    assert refit.intents == ["general_high", "general_low"], refit.intents  # the 12 rows, not the 35 intents
    assert json.loads(path.read_text())["source"] == manifest["source"]
