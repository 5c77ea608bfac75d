"""Shared test setup: every test session gets its own SWITCHYARD_HOME and runs offline."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# The local OpenAI contract server's fixtures (openai_server, second_openai_server).
pytest_plugins = ["support.fixtures"]

_HOME = Path(tempfile.mkdtemp(prefix="switchyard-test-"))
os.environ["SWITCHYARD_HOME"] = str(_HOME)
os.environ["SWITCHYARD_OFFLINE"] = "true"
os.environ.pop("OPENAI_API_KEY", None)
os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def switchyard_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def deps(switchyard_home: Path):
    """The real dependencies for the test home (database, index, classifier, cache), built once."""
    from switchyard.runner import default_graph, ensure_ready

    ensure_ready()
    return default_graph()[0]  # the same dependencies ``runner.arun`` uses by default


@pytest.fixture(scope="session")
def nodes(deps):
    from switchyard.graph.nodes import RouterNodes

    return RouterNodes(deps)
