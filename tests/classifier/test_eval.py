"""``switchyard eval``: the suites' report shape, and the LangSmith upload path with a fake client."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from switchyard.cli.commands.eval import load_tool_choice, upload
from switchyard.core.domain import active_pack


class FakeLangSmith:
    """Records the calls ``upload`` makes; behaves like a workspace with no datasets yet."""

    def __init__(self) -> None:
        self.datasets: dict[str, SimpleNamespace] = {}
        self.examples: dict[str, list[dict[str, Any]]] = {}
        self.projects: list[dict[str, Any]] = []
        self.runs: list[dict[str, Any]] = []
        self.feedback: list[dict[str, Any]] = []

    def has_dataset(self, *, dataset_name: str) -> bool:
        return dataset_name in self.datasets

    def read_dataset(self, *, dataset_name: str) -> SimpleNamespace:
        return self.datasets[dataset_name]

    def create_dataset(self, name: str, **kwargs: Any) -> SimpleNamespace:
        self.datasets[name] = SimpleNamespace(id=uuid.uuid4(), name=name)
        self.examples[str(self.datasets[name].id)] = []
        return self.datasets[name]

    def list_examples(self, *, dataset_id: Any) -> list[SimpleNamespace]:
        return [SimpleNamespace(id=e["id"]) for e in self.examples[str(dataset_id)]]

    def create_examples(self, *, dataset_id: Any, examples: list[dict[str, Any]]) -> None:
        self.examples[str(dataset_id)].extend(examples)

    def create_project(self, name: str, **kwargs: Any) -> SimpleNamespace:
        self.projects.append({"name": name, "id": uuid.uuid4(), **kwargs})
        return SimpleNamespace(id=self.projects[-1]["id"], name=name)

    def create_run(self, **kwargs: Any) -> None:
        self.runs.append(kwargs)

    def create_feedback(self, run_id: Any, key: str, **kwargs: Any) -> None:
        self.feedback.append({"run_id": run_id, "key": key, **kwargs})


def _results() -> dict[str, dict[str, Any]]:
    rows = [{"inputs": {"text": "I forgot my password", "history": []},
             "reference": {"agent": "fast"}, "prediction": {"agent": "fast"}, "correct": True},
            {"inputs": {"text": "migrate 10K users", "history": []},
             "reference": {"agent": "expert"}, "prediction": {"agent": "standard"}, "correct": False}]
    return {"routing": {"n": 2, "tier_accuracy": 0.5, "high_recall": 0.0, "rows": rows}}


def test_upload_creates_dataset_experiment_runs_and_feedback() -> None:
    client = FakeLangSmith()
    summary = upload(_results(), client, prefix="sy", experiment_tag="t1")
    assert summary == {"routing": {"dataset": "sy-routing", "examples_added": 2,
                                   "experiment": "sy-routing-t1", "runs": 2}}
    dataset = client.datasets["sy-routing"]
    assert client.projects[0]["reference_dataset_id"] == dataset.id
    assert client.projects[0]["metadata"]["tier_accuracy"] == 0.5
    example_ids = [e["id"] for e in client.examples[str(dataset.id)]]
    assert [r["reference_example_id"] for r in client.runs] == example_ids
    assert all(r["project_name"] == "sy-routing-t1" for r in client.runs)
    assert [f["score"] for f in client.feedback] == [1.0, 0.0]
    assert {f["key"] for f in client.feedback} == {"correct"}
    assert {f["session_id"] for f in client.feedback} == {client.projects[0]["id"]}

    # A second upload reuses the dataset (ids derive from the inputs) and adds a new experiment.
    again = upload(_results(), client, prefix="sy", experiment_tag="t2")
    assert again["routing"]["examples_added"] == 0
    assert len(client.examples[str(dataset.id)]) == 2 and len(client.projects) == 2


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
