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
from typing import Any

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
    # Run in the test's own folder: the in-memory server keeps its threads, runs, store and
    # assistants in ./.langgraph_api (of the working directory), which in the repo would be
    # shared with every other server started there. The repo's config, paths made absolute.
    with langgraph_dev(workdir, env, workdir, ("--config", str(_config_in(workdir, config)))) as url:
        yield url


def _config_in(workdir: Path, name: str) -> Path:
    import json

    def absolute(ref: str) -> str:
        path, _, attr = ref.partition(":")
        return f"{(ROOT / path).resolve()}:{attr}"

    data = json.loads((ROOT / name).read_text())
    data["dependencies"] = [str((ROOT / d).resolve()) for d in data["dependencies"]]
    data["graphs"] = {k: absolute(v) for k, v in data["graphs"].items()}
    if "auth" in data:
        data["auth"]["path"] = absolute(data["auth"]["path"])
    out = workdir / name
    out.write_text(json.dumps(data))
    return out


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


AUTH_SECRET = "studio-signing-secret-" + "z" * 32


@pytest.fixture(scope="module")
def auth_server(switchyard_home: Path, sy,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``langgraph dev`` with ``langgraph.auth.json``: the service's tokens and rules."""
    with _langgraph_dev(switchyard_home, tmp_path_factory.mktemp("langgraph-dev-auth"),
                        config="langgraph.auth.json", SWITCHYARD_AUTH_SECRET=AUTH_SECRET,
                        SWITCHYARD_SECRET="studio-deployment-secret") as url:
        yield url


def _bearer(user: str) -> dict[str, str]:
    from switchyard.core.settings import Settings
    from switchyard.service.auth import issue_token

    return {"Authorization": f"Bearer {issue_token(Settings(auth_secret=AUTH_SECRET), user)}"}


def _client(url: str, user: str):  # noqa: ANN202 - langgraph_sdk's client
    from langgraph_sdk import get_client

    return get_client(url=url, headers=_bearer(user))


ASK = {"messages": [{"role": "user", "content": "I forgot my password"}]}


def test_with_auth_the_user_comes_from_the_token_not_the_context(
        auth_server: str, switchyard_home: Path) -> None:
    anonymous = httpx.post(f"{auth_server}/threads", json={}, timeout=30)
    assert anonymous.status_code in (401, 403), anonymous.text

    async def go() -> tuple[dict, list]:
        client = _client(auth_server, "u-0550")
        thread = await client.threads.create()
        # The client claims to be u-0001 (organization 1) in its context and config: ignored.
        state = await client.runs.wait(
            thread["thread_id"], "switchyard",
            input={"messages": [{"role": "user",
                                 "content": "What's my account balance and last invoice?"}]},
            context={"user_id": "u-0001", "tenant": "org-1"})
        # Or in its config's configurable (the server takes one of the two).
        await client.runs.wait(thread["thread_id"], "switchyard", input=ASK,
                               config={"configurable": {"user_id": "u-0001", "tenant": "org-1"}})
        return state, await client.threads.get_history(thread["thread_id"])

    state, history = asyncio.run(go())
    assert "__error__" not in state, state.get("__error__")
    from switchyard.tools.database import connect

    with connect(switchyard_home / "customers.sqlite") as conn:
        facts = {row[0]: (row[1], str(row[2])) for row in conn.execute(
            "SELECT u.id, o.name, (SELECT number FROM invoices i WHERE i.org_id = o.id "
            "ORDER BY issued DESC, number DESC LIMIT 1) FROM users u JOIN organizations o "
            "ON o.id = u.org_id WHERE u.id IN ('u-0001', 'u-0550')").fetchall()}
    assert facts["u-0001"][0] not in state["answer"] and facts["u-0001"][1] not in state["answer"]
    assert facts["u-0550"][1] in state["answer"], "the run acted as the token's user"
    # Nor is the claimed identity kept in the run's record (checkpoint metadata).
    assert history, history
    for h in history:
        assert "u-0001" not in str(h["metadata"]), h["metadata"]


def test_with_auth_a_run_without_a_thread_answers(auth_server: str) -> None:
    """Found by a hostile sweep: the temporary thread of a stateless run had no owner, so the
    run failed its own owner check (a 500 after the graph had run and spent its cost)."""
    async def go() -> tuple[dict, list]:
        client = _client(auth_server, "u-0001")
        waited = await client.runs.wait(None, "switchyard", input=ASK)
        events = [e.event async for e in client.runs.stream(None, "switchyard", input=ASK)]
        return waited, events

    state, events = asyncio.run(go())
    assert "__error__" not in state and state["agent"] == "fast" and state["answer"], state
    assert "error" not in events and "values" in events, events


def test_with_auth_the_deployment_choices_are_not_the_clients(auth_server: str) -> None:
    """A customer token could force the dearest tier and model (context, configurable, or an
    assistant of its own); the HTTP service's schema refuses the same fields."""
    async def go() -> tuple[dict, dict, int]:
        client = _client(auth_server, "u-0001")
        thread = await client.threads.create()
        forced = {"force_tier": "expert", "expert_model": "o1-pro", "use_cache": False}
        by_context = await client.runs.wait(thread["thread_id"], "switchyard", input=ASK,
                                            context=forced)
        by_config = await client.runs.wait(None, "switchyard", input=ASK,
                                           config={"configurable": forced})
        created = httpx.post(f"{auth_server}/assistants", headers=_bearer("u-0001"), timeout=30,
                             json={"graph_id": "switchyard", "context": forced})
        return by_context, by_config, created.status_code

    by_context, by_config, created = asyncio.run(go())
    for state in (by_context, by_config):
        assert "__error__" not in state, state.get("__error__")
        assert state["route"] == "fast" and "o1-pro" not in state["model"], state["model"]
    assert created == 403


def test_with_auth_the_store_is_each_users_own(auth_server: str) -> None:
    async def go() -> tuple[Any, Any, list, Any]:
        a, b = _client(auth_server, "u-0001"), _client(auth_server, "u-0550")
        await a.store.put_item(["notes"], "k", {"v": "from-a"})
        seen_by_b = await b.store.get_item(["notes"], "k")
        await b.store.put_item(["notes"], "k", {"v": "from-b"})
        await b.store.delete_item(["u-0001", "notes"], "k")  # aimed at a's scoped namespace
        listed_by_b = await b.store.list_namespaces()
        return seen_by_b, await a.store.get_item(["notes"], "k"), listed_by_b, \
            await b.store.get_item(["notes"], "k")

    seen_by_b, a_reads, listed_by_b, b_reads = asyncio.run(go())
    assert seen_by_b is None
    assert a_reads is not None and a_reads["value"] == {"v": "from-a"}
    assert all(ns[0] == "u-0550" for ns in listed_by_b["namespaces"]), listed_by_b
    assert b_reads is not None and b_reads["value"] == {"v": "from-b"}


def test_with_auth_studio_needs_a_token_too(auth_server: str) -> None:
    """Without disable_studio_auth, a request saying it came from Studio skipped the token."""
    studio = {"x-auth-scheme": "langsmith"}
    for method, path, body in (("POST", "/threads", {}), ("POST", "/threads/search", {}),
                               ("PUT", "/store/items", {"namespace": ["x"], "key": "k",
                                                        "value": {"v": 1}})):
        resp = httpx.request(method, f"{auth_server}{path}", json=body, headers=studio,
                             timeout=30)
        assert resp.status_code in (401, 403), (path, resp.status_code, resp.text)


def test_with_auth_the_graph_can_be_discovered(auth_server: str) -> None:
    async def go() -> tuple[list, dict]:
        client = _client(auth_server, "u-0001")
        found = await client.assistants.search(graph_id="switchyard")
        return found, await client.assistants.get_schemas(found[0]["assistant_id"])

    found, schemas = asyncio.run(go())
    assert [(a["graph_id"], a["metadata"]) for a in found] == [
        ("switchyard", {"created_by": "system"})]
    assert "user_id" in schemas["context_schema"]["properties"]
