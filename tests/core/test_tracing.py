"""LangSmith traces, checked on the wire: a local stub of the LangSmith API records what the real
``langsmith.Client`` posts (POST /runs, PATCH /runs/<id>) while the real graph runs with tracing on.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from switchyard.core.tracing import annotate_trace, trace_annotations, user_hash

USER = "u-0001"


class _Recorder(BaseHTTPRequestHandler):
    calls: list[tuple[str, str, bytes]] = []

    def _reply(self) -> None:
        n = int(self.headers.get("content-length") or 0)
        self.calls.append((self.command, self.path, self.rfile.read(n) if n else b""))
        body = b"{}"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = _reply

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def langsmith_stub() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    calls: list[tuple[str, str, bytes]] = []
    handler = type("Recorder", (_Recorder,), {"calls": calls})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", calls
    finally:
        server.shutdown()
        server.server_close()


def _runs(calls: list[tuple[str, str, bytes]]) -> dict[str, dict[str, Any]]:
    """Fold the POSTs and PATCHes into the final view of each run, as LangSmith would."""
    runs: dict[str, dict[str, Any]] = {}
    for method, path, body in calls:
        if not path.startswith("/runs") or method not in ("POST", "PATCH"):
            continue
        data = json.loads(body)
        run = runs.setdefault(str(data["id"]), {})
        run.update({k: v for k, v in data.items() if v is not None})
    return runs


async def _traced(sy: Any, url: str, text: str, tenant: str) -> dict[str, Any]:
    from langchain_core.tracers.langchain import wait_for_all_tracers
    from langsmith import Client
    from langsmith.run_helpers import tracing_context

    client = Client(api_url=url, api_key="test-key", auto_batch_tracing=False)
    with tracing_context(enabled=True, client=client, project_name="switchyard-tests"):
        record = (await sy.aask(text, user_id=USER, tenant=tenant)).model_dump()
    wait_for_all_tracers()
    return record


@pytest.mark.integration
@pytest.mark.timeout(300)
async def test_trace_tree_names_tags_and_metadata(langsmith_stub: tuple[str, list], sy) -> None:
    url, calls = langsmith_stub
    tenant = f"trace-{uuid.uuid4().hex[:8]}"
    question = "Help me debug this system error: webhook deliveries fail with 401"
    record = await _traced(sy, url, question, tenant)
    assert record["agent"] == "standard"
    runs = _runs(calls)
    roots = [r for r in runs.values() if not r.get("parent_run_id")]
    assert len(roots) == 1
    root = roots[0]
    assert root["name"] == "switchyard"
    assert {"tier:standard", "complexity:medium", "cache:miss"} <= set(root["tags"])
    meta = root["extra"]["metadata"]
    assert meta["intent"] == record["intent"] and meta["model"] == record["model"]
    assert meta["confidence"] == pytest.approx(record["confidence"], abs=1e-4)
    assert meta["cost_usd"] == pytest.approx(record["cost_usd"]) and meta["cost_usd"] > 0
    assert meta["tokens"] == record["tokens"] and "similarity" in meta
    assert meta["user_hash"] == user_hash(USER, sy.settings.hash_key)

    def children(parent: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in runs.values() if r.get("parent_run_id") == parent["id"]]

    top = {r["name"] for r in children(root)}
    assert top == {"intake", "classify", "cache_lookup", "standard", "cache_store", "respond"}
    # The "standard" node runs the compiled "standard" subgraph, whose steps are its children.
    node = next(r for r in children(root) if r["name"] == "standard")
    [subgraph] = children(node)
    assert subgraph["name"] == "standard"
    steps = {r["name"] for r in children(subgraph)}
    assert {"retrieve", "agent", "answer"} <= steps
    models = [r for r in runs.values() if r.get("run_type") == "llm"]
    assert "standard.agent_0" in {r["name"] for r in models}
    # Every run is named; nothing in any payload carries the raw user id.
    assert all(r.get("name") for r in runs.values())
    assert not any(USER.encode() in body for _, _, body in calls)

    # The same question again: a cache hit, tagged as such, with no model call in its trace.
    calls.clear()
    again = await _traced(sy, url, question, tenant)
    assert again["cache_hit"]
    runs = _runs(calls)
    root = next(r for r in runs.values() if not r.get("parent_run_id"))
    assert {"tier:standard", "complexity:medium", "cache:hit"} <= set(root["tags"])
    assert root["extra"]["metadata"]["similarity"] >= 0.99
    assert not [r for r in runs.values() if r.get("run_type") == "llm"]
    assert not any(USER.encode() in body for _, _, body in calls)


def test_annotations_without_tracing_are_a_no_op() -> None:
    state = {"classification": {"complexity": "low", "intent": "password_reset", "confidence": 0.9},
             "cache": {"hit": True, "similarity": 0.97}, "agent": "fast", "cost_usd": 0.0}
    assert annotate_trace(None, state, USER) == 0
    assert annotate_trace({"callbacks": []}, state, USER) == 0
    tags, meta = trace_annotations(state, USER, key=b"deployment-key")
    assert tags == ["tier:fast", "complexity:low", "cache:hit"]
    assert meta["user_hash"] != USER and USER not in json.dumps(meta)
    key = b"deployment-key"
    assert user_hash(USER, key) == user_hash(USER, key) != user_hash("u-0002", key)
    assert user_hash(USER, key) != user_hash(USER, b"another-deployment")
