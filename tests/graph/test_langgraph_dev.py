"""``langgraph dev`` (the server behind LangGraph Studio) loads the graph offline and routes requests.

Starts the real CLI on a free port with the repo's ``langgraph.json``, talks to it with
``langgraph_sdk`` like Studio does, and stops it (the whole process group) afterwards. Blocking
calls on the event loop would fail the run here: the dev server raises ``BlockingError`` for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.langgraph_dev import langgraph_dev

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = [
    ("I forgot my password", "fast", "low"),
    ("Help me debug this system error: webhook deliveries fail with 401", "standard", "medium"),
    ("I want to migrate 10K users from our old system to yours. What's the best approach?",
     "expert", "high"),
]


@pytest.fixture(scope="module")
def server(switchyard_home: Path, sy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # ``sy`` prepared the home, so the server's first request does not build the index and
    # classifier.
    with _langgraph_dev(switchyard_home, tmp_path_factory.mktemp("langgraph-dev")) as url:
        yield url


@contextlib.contextmanager
def _langgraph_dev(switchyard_home: Path, workdir: Path, config: str = "langgraph.json",
                   **extra_env: str) -> Iterator[str]:
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false",
           "LANGCHAIN_TRACING_V2": "false", "SWITCHYARD_HOME": str(switchyard_home),
           "SWITCHYARD_OFFLINE": "true", "HF_HUB_OFFLINE": "1", **extra_env}
    env.pop("OPENAI_API_KEY", None)
    env.pop("LANGSMITH_API_KEY", None)
    with langgraph_dev(ROOT, env, workdir, ("--config", config)) as url:
        yield url


def test_a_home_that_was_never_set_up_is_built_on_the_first_run(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Studio on a fresh SWITCHYARD_HOME: the first run builds the database, index and
    classifier off the event loop (never a BlockingError) and answers."""
    from langgraph_sdk import get_client

    home = tmp_path_factory.mktemp("never-set-up")
    assert not any(home.iterdir())

    async def go(url: str) -> dict:
        client = get_client(url=url)
        thread = await client.threads.create()
        return await client.runs.wait(
            thread["thread_id"], "switchyard",
            input={"messages": [{"role": "user", "content": "I forgot my password"}]},
            context={"user_id": "u-0001"})

    with _langgraph_dev(home, tmp_path_factory.mktemp("langgraph-dev-fresh")) as url:
        state = asyncio.run(go(url))
    assert "__error__" not in state, state.get("__error__")
    assert state["agent"] == "fast" and state["answer"]
    assert (home / "customers.sqlite").exists() and (home / "index").is_dir()


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


def test_with_auth_the_user_comes_from_the_token_not_the_context(
        switchyard_home: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    from langgraph_sdk import get_client

    from switchyard.core.settings import Settings
    from switchyard.service.auth import issue_token

    secret = "studio-signing-secret-" + "z" * 32
    token = issue_token(Settings(auth_secret=secret), "u-0550")
    with _langgraph_dev(switchyard_home, tmp_path_factory.mktemp("langgraph-dev-auth"),
                        config="langgraph.auth.json", SWITCHYARD_AUTH_SECRET=secret,
                        SWITCHYARD_SECRET="studio-deployment-secret") as url:
        anonymous = httpx.post(f"{url}/threads", json={}, timeout=30)
        assert anonymous.status_code in (401, 403), anonymous.text

        async def go() -> dict:
            client = get_client(url=url, headers={"Authorization": f"Bearer {token}"})
            thread = await client.threads.create()
            # The client claims to be u-0001 (organization 1) in its context: ignored.
            return await client.runs.wait(
                thread["thread_id"], "switchyard",
                input={"messages": [{"role": "user",
                                     "content": "What's my account balance and last invoice?"}]},
                context={"user_id": "u-0001"})

        state = asyncio.run(go())
    assert "__error__" not in state, state.get("__error__")
    from switchyard.tools.database import connect

    with connect(switchyard_home / "customers.sqlite") as conn:
        facts = {row[0]: (row[1], str(row[2])) for row in conn.execute(
            "SELECT u.id, o.name, (SELECT number FROM invoices i WHERE i.org_id = o.id "
            "ORDER BY issued DESC, number DESC LIMIT 1) FROM users u JOIN organizations o "
            "ON o.id = u.org_id WHERE u.id IN ('u-0001', 'u-0550')").fetchall()}
    assert facts["u-0001"][0] not in state["answer"] and facts["u-0001"][1] not in state["answer"]
    assert facts["u-0550"][1] in state["answer"], "the run acted as the token's user"
