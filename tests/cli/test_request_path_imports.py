"""The request path runs without torch: ``ask``, ``classify``, the HTTP service and the graph
``langgraph dev`` serves never import it (only ``switchyard setup``'s export does, in a child
process), and a cache hit does not import the model SDKs it never calls.

Each check is a fresh process on a copy of the session's prepared home (``sy`` built it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

# Set-up only: the export's libraries.
SETUP_ONLY = {"torch", "transformers", "sentence_transformers", "onnx"}
# What a cache hit never calls: the model SDKs.
MODEL_SDKS = {"openai", "langchain_openai"}
QUESTION = "How do I export my invoices as a CSV file?"


@pytest.fixture(scope="module")
def home(sy, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session home's built parts (encoder, index, classifier, customers), a cache of its own."""
    dst = tmp_path_factory.mktemp("request-path") / "home"
    dst.mkdir()
    for name in ("models", "index", "classifier"):
        shutil.copytree(sy.settings.home / name, dst / name)
    for name in ("customers.sqlite", "secret.key"):
        shutil.copy2(sy.settings.home / name, dst / name)
    return dst


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "SWITCHYARD_HOME": str(home), "SWITCHYARD_OFFLINE": "true"}


def _run(home: Path, args: list[str], **kw) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=_env(home),
                          timeout=900, **kw)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _imported(importtime_stderr: str) -> set[str]:
    """Top-level packages a ``python -X importtime`` run imported."""
    return {line.rsplit("|", 1)[-1].strip().split(".")[0]
            for line in importtime_stderr.splitlines() if line.startswith("import time:")}


def test_ask_on_a_cache_hit_imports_neither_torch_nor_the_model_sdks(home: Path) -> None:
    first = json.loads(_run(home, ["-m", "switchyard", "ask", QUESTION, "--json"]).stdout)
    proc = _run(home, ["-X", "importtime", "-m", "switchyard", "ask", QUESTION, "--json"])
    record = json.loads(proc.stdout)
    assert record["cache_hit"] is True, (first, record)
    imported = _imported(proc.stderr)
    assert {"onnxruntime", "tokenizers", "langgraph"} <= imported  # the profile is real
    assert not imported & (SETUP_ONLY | MODEL_SDKS), imported & (SETUP_ONLY | MODEL_SDKS)


def test_a_request_through_the_front_door_leaves_torch_out_of_sys_modules(home: Path) -> None:
    code = (
        "import sys\n"
        "from switchyard import Switchyard\n"
        "with Switchyard.open() as sy:\n"
        f"    record = sy.ask({QUESTION + ' (again)'!r}, user_id='u-0001')\n"
        "print(record.answer != '', 'torch' in sys.modules,\n"
        f"      sorted({{m.split('.')[0] for m in sys.modules}} & {SETUP_ONLY!r}))\n"
    )
    assert _run(home, ["-c", code]).stdout.split() == ["True", "False", "[]"]


def test_classify_imports_no_torch(home: Path, tmp_path: Path) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(
        ["reset my password", "plan a migration of 20k users", "write me a poem"])))
    proc = _run(home, ["-X", "importtime", "-m", "switchyard", "classify", "--in", str(src),
                       "--out", str(dst)])
    assert len(dst.read_text().splitlines()) == 3
    assert not _imported(proc.stderr) & SETUP_ONLY


def test_the_service_and_the_studio_graph_answer_without_torch(home: Path) -> None:
    code = (
        "import asyncio, sys\n"
        "from fastapi.testclient import TestClient\n"
        "from langchain_core.messages import HumanMessage\n"
        "from switchyard.service.app import create_app\n"
        "with TestClient(create_app()) as client:\n"
        "    resp = client.post('/v1/chat', json={'message': 'What is the refund policy?',"
        " 'user_id': 'u-0001'})\n"
        "    assert resp.status_code == 200, resp.text\n"
        "from switchyard.studio import graph\n"  # what langgraph.json serves
        "state = asyncio.run(graph.ainvoke({'messages': [HumanMessage('What is the refund policy?')]}))\n"
        "assert state['answer'], state\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {SETUP_ONLY!r}))\n"
    )
    env_auth = {"SWITCHYARD_AUTH": "none"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**_env(home), **env_auth}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
