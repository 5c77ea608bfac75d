"""``switchyard eval``: the suites' report shape, and the LangSmith upload path (the real
langsmith client against the local LangSmith-protocol stub)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from langsmith.utils import LangSmithWarning

from switchyard.cli.commands.eval import load_tool_choice, upload
from switchyard.core.domain import active_pack


def _results() -> dict[str, dict[str, Any]]:
    rows = [{"inputs": {"text": "I forgot my password", "history": []},
             "reference": {"agent": "fast"}, "prediction": {"agent": "fast"}, "correct": True},
            {"inputs": {"text": "migrate 10K users", "history": []},
             "reference": {"agent": "expert"}, "prediction": {"agent": "standard"}, "correct": False}]
    return {"routing": {"n": 2, "tier_accuracy": 0.5, "high_recall": 0.0, "rows": rows}}


@pytest.mark.parametrize("backend", ["smithdb", "clickhouse"])
def test_upload_creates_dataset_experiment_runs_and_feedback(backend: str) -> None:
    """Through the real langsmith client, over HTTP, to the local LangSmith-protocol stub: on a
    SmithDB-only deployment (feedback must name the run's project) and a ClickHouse-only one,
    with none of the SDK's deprecation warnings."""
    from langsmith import Client
    from support.langsmith_stub import LangSmithStub

    with LangSmithStub(backend=backend) as stub, warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        warnings.simplefilter("error", LangSmithWarning)
        client = Client(api_url=stub.url, api_key="stub-key")
        summary = upload(_results(), client, prefix="sy", experiment_tag="t1")
        assert summary == {"routing": {"dataset": "sy-routing", "examples_added": 2,
                                       "experiment": "sy-routing-t1", "runs": 2}}
        (dataset,) = stub.datasets.values()
        assert dataset["name"] == "sy-routing" and dataset["example_count"] == 2
        examples = sorted(stub.examples.values(), key=lambda e: e["inputs"]["text"])
        assert [e["outputs"] for e in examples] == [{"agent": "fast"}, {"agent": "expert"}]
        experiment = stub.project_bodies["sy-routing-t1"]
        assert experiment["reference_dataset_id"] == dataset["id"]
        assert experiment["extra"]["metadata"]["tier_accuracy"] == 0.5
        runs = {r["id"]: r for r in stub.runs.values()}
        assert len(runs) == 2
        assert {r["reference_example_id"] for r in runs.values()} == set(stub.examples)
        assert {r["session_id"] for r in runs.values()} == {stub.projects["sy-routing-t1"]}
        feedback = {f["run_id"]: f for f in stub.feedback.values()}
        assert set(feedback) == set(runs)
        assert {f["key"] for f in feedback.values()} == {"correct"}
        assert {f["session_id"] for f in feedback.values()} == {stub.projects["sy-routing-t1"]}
        by_text = {runs[r]["inputs"]["text"]: f["score"] for r, f in feedback.items()}
        assert by_text == {"I forgot my password": 1.0, "migrate 10K users": 0.0}

        # A second upload reuses the dataset (ids derive from the inputs) and adds an experiment.
        again = upload(_results(), client, prefix="sy", experiment_tag="t2")
        assert again["routing"]["examples_added"] == 0
        assert len(stub.examples) == 2 and len(stub.datasets) == 1
        assert {"sy-routing-t1", "sy-routing-t2"} <= set(stub.project_bodies)


def test_tool_choice_set_is_well_formed() -> None:
    from switchyard.tools import ALL_TOOLS, BASIC_TOOLS

    rows = load_tool_choice(active_pack().data_file("tool_choice"))
    assert len(rows) >= 40
    names = {t.name for t in ALL_TOOLS}
    basic = {t.name for t in BASIC_TOOLS}
    for row in rows:
        assert row["expected"] and set(row["expected"]) <= names, row
        if row["tier"] == "standard":  # the standard agent only has the basic tools
            assert set(row["expected"]) <= basic, row


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_eval_command_reports_all_suites() -> None:
    from typer.testing import CliRunner

    from switchyard.cli.main import app

    result = CliRunner().invoke(app, ["eval"])
    assert result.exit_code == 0, result.output
    for needle in ("routing", "tier accuracy", "high recall", "confusion", "retrieval",
                   "recall@4", "MRR", "tool choice", "expected tool chosen"):
        assert needle in result.output, needle
    upload_without_key = CliRunner().invoke(app, ["eval", "--upload"], env={"LANGSMITH_API_KEY": ""})
    assert upload_without_key.exit_code != 0 and "LANGSMITH_API_KEY" in upload_without_key.output
