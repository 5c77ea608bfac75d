"""`switchyard ingest` and `switchyard eval-retrieval` through the real CLI, on a small corpus."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from switchyard.cli.main import app

pytestmark = pytest.mark.integration

ARTICLES = Path(__file__).resolve().parents[2] / "switchyard" / "domains" / "quillstack" / "articles"


@pytest.fixture
def small_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    articles = tmp_path / "articles"
    articles.mkdir()
    for slug in ("refund-policy", "api-rate-limits", "sso-troubleshooting"):
        shutil.copy(ARTICLES / f"{slug}.md", articles)
    monkeypatch.setenv("SWITCHYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SWITCHYARD_ARTICLES_DIR", str(articles))
    yield tmp_path


def test_ingest_then_eval(small_home: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["ingest"])
    assert first.exit_code == 0, first.output
    assert "kb_version" in first.output and "3 (" in first.output  # three articles added
    again = runner.invoke(app, ["ingest"])
    assert again.exit_code == 0 and "unchanged" in again.output
    forced = runner.invoke(app, ["ingest", "--force"])
    assert forced.exit_code == 0, forced.output

    questions = small_home / "q.jsonl"
    questions.write_text(
        "\n".join(
            json.dumps(row)
            for row in [
                {"question": "I got HTTP 429 from the API", "article": "api-rate-limits"},
                {"question": "refund after cancelling my yearly plan", "article": "refund-policy"},
                {
                    "question": "SAML assertion invalid after cert renewal",
                    "article": "sso-troubleshooting",
                },
            ]
        )
    )
    result = runner.invoke(app, ["eval-retrieval", "--k", "2", "--path", str(questions)])
    assert result.exit_code == 0, result.output
    assert "recall@2" in result.output and "1.000" in result.output
