"""``switchyard models``: the resolved tiers, and bad settings as a message, not a traceback."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from switchyard.cli.main import app


def _invoke(monkeypatch, env: dict[str, str], *args: str):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return CliRunner().invoke(app, ["models", *args])


def test_models_shows_each_tiers_rules_and_prices(monkeypatch):
    result = _invoke(monkeypatch, {"SWITCHYARD_TIERS__STANDARD__MODEL": "o3-mini"}, "--json")
    assert result.exit_code == 0, result.output
    rows = {r["tier"]: r for r in map(json.loads, result.output.splitlines())}
    assert rows["standard"]["family"] == "reasoning" and rows["standard"]["temperature"] is None
    assert rows["standard"]["input_per_m"] == 1.10 and rows["standard"]["price_source"] == "catalog"
    assert rows["expert"]["max_completion_tokens"] == 18_000 and rows["fast"]["key"] == "offline"


def test_bad_settings_are_a_message_and_exit_code_2(monkeypatch):
    result = _invoke(monkeypatch, {"SWITCHYARD_TIERS__FAST__TIMEOUT_S": "soon"})
    assert result.exit_code == 2
    assert "tiers.fast.timeout_s" in result.output and "Traceback" not in result.output


def test_check_names_the_missing_key(monkeypatch):
    result = _invoke(monkeypatch, {"SWITCHYARD_OFFLINE": "false", "OPENAI_API_KEY": "sk-test",
                                   "SWITCHYARD_TIERS__EXPERT__API_KEY_ENV": "NO_SUCH_KEY_VAR"},
                     "--check")
    assert result.exit_code == 2 and "NO_SUCH_KEY_VAR" in result.output
