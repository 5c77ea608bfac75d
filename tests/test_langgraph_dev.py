"""``langgraph dev`` (the server behind LangGraph Studio) loads the graph offline and routes requests.

Starts the real CLI on a free port with the repo's ``langgraph.json``, talks to it with
``langgraph_sdk`` like Studio does, and stops it (the whole process group) afterwards. Blocking
calls on the event loop would fail the run here: the dev server raises ``BlockingError`` for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parent.parent
LANGGRAPH = Path(sys.executable).parent / "langgraph"
REQUESTS = [
    ("I forgot my password", "fast", "low"),
    ("Help me debug this system error: webhook deliveries fail with 401", "standard", "medium"),
    ("I want to migrate 10K users from our old system to yours. What's the best approach?",
     "expert", "high"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(switchyard_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from switchyard.runner import ensure_ready

    ensure_ready()  # so the server's first request does not build the index and classifier
    port = _free_port()
    log = tmp_path_factory.mktemp("langgraph-dev") / "server.log"
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false",
           "LANGCHAIN_TRACING_V2": "false", "SWITCHYARD_HOME": str(switchyard_home),
           "SWITCHYARD_OFFLINE": "true", "HF_HUB_OFFLINE": "1"}
    env.pop("OPENAI_API_KEY", None)
    env.pop("LANGSMITH_API_KEY", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(LANGGRAPH), "dev", "--port", str(port), "--no-browser", "--no-reload",
             "--config", "langgraph.json"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"langgraph dev exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"langgraph dev not ready after 180 s:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
        yield url
    finally:
        # The CLI spawns workers: stop the whole group we started, then make sure it is gone.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        text = log.read_text(errors="replace")
        assert "BlockingError" not in text, text[-4000:]


def test_studio_sees_the_graph_and_its_context_form(server: str) -> None:
    from langgraph_sdk import get_client

    async def go() -> tuple[list, dict, dict]:
        client = get_client(url=server)
        assistants = await client.assistants.search(graph_id="switchyard")
        schemas = await client.assistants.get_schemas(assistants[0]["assistant_id"])
        drawn = await client.assistants.get_graph(assistants[0]["assistant_id"], xray=1)
        return assistants, schemas, drawn

    assistants, schemas, drawn = asyncio.run(go())
    assert [a["graph_id"] for a in assistants] == ["switchyard"]
    context = schemas["context_schema"]["properties"]
    for field in ("user_id", "tenant", "fast_model", "standard_model", "expert_model"):
        assert context[field].get("description"), field
    assert list(schemas["input_schema"]["properties"]) == ["messages"]
    nodes = {n["id"] for n in drawn["nodes"]}
    # The flow reads as named steps, with each tier's subgraph steps visible (xray).
    assert {"intake", "classify", "cache_lookup", "cache_store", "respond"} <= nodes
    assert {"fast:retrieve", "fast:answer", "standard:agent", "standard:tools",
            "expert:plan", "expert:reflect", "expert:synthesize"} <= nodes


def test_one_request_per_tier_through_the_sdk(server: str) -> None:
    from langgraph_sdk import get_client

    async def go() -> list[dict]:
        client = get_client(url=server)
        results = []
        for text, _, _ in REQUESTS:
            thread = await client.threads.create()
            state = await client.runs.wait(
                thread["thread_id"], "switchyard",
                input={"messages": [{"role": "user", "content": text}]},
                # A fresh tenant per run: the cache cannot answer, so every tier really runs.
                context={"user_id": "u-0001", "tenant": f"studio-{uuid.uuid4().hex[:8]}"},
            )
            results.append(state)
        return results

    for (_, tier, complexity), state in zip(REQUESTS, asyncio.run(go()), strict=True):
        assert "__error__" not in state, state.get("__error__")
        assert state["route"] == tier and state["agent"] == tier
        assert state["classification"]["complexity"] == complexity
        assert state["cache"]["hit"] is False
        assert state["cost_usd"] > 0 and state["answer"]
        assert state["messages"][-1]["type"] == "ai"
