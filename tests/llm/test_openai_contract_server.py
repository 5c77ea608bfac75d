"""The contract server itself: it must reject what OpenAI rejects, or the contract tests prove
nothing. Plain HTTP, no switchyard code in the loop."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from switchyard.core.settings import Settings
from switchyard.llm.factory import ModelFactory

USER = [{"role": "user", "content": "hi"}]
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": schema}}


REJECTED = [
    ("o1 with max_tokens", {"model": "o1", "messages": USER, "max_tokens": 10}, "max_tokens"),
    ("o3-mini with temperature", {"model": "o3-mini", "messages": USER, "temperature": 0.2}, "temperature"),
    ("gpt-4.1 with reasoning_effort", {"model": "gpt-4.1", "messages": USER, "reasoning_effort": "low"},
     "reasoning_effort"),
    ("orphan tool message", {"model": "gpt-4.1", "messages": [
        *USER, {"role": "tool", "tool_call_id": "call_1", "content": "r"}]}, "messages.[1].role"),
    ("unanswered tool call", {"model": "gpt-4.1", "messages": [
        *USER, {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "user", "content": "and?"}]}, "messages"),
    ("strict schema missing required", {"model": "gpt-4.1", "messages": USER, "response_format": _strict(
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": [],
         "additionalProperties": False})}, "response_format"),
    ("nested strict schema allows extras", {"model": "gpt-4.1", "messages": USER, "response_format": _strict(
        {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}},
                                                "required": ["b"]}},
         "required": ["a"], "additionalProperties": False})}, "response_format"),
    ("stream_options without stream", {"model": "gpt-4.1", "messages": USER,
                                       "stream_options": {"include_usage": True}}, "stream_options"),
]


@pytest.mark.parametrize(("case", "body", "param"), REJECTED, ids=[c[0] for c in REJECTED])
def test_server_rejects_what_openai_rejects(openai_server, case: str, body: dict, param: str):
    r = httpx.post(f"{openai_server.base_url}/chat/completions", json=body)
    assert r.status_code == 400, case
    assert r.json()["error"]["type"] == "invalid_request_error" and r.json()["error"]["param"] == param


def test_server_accepts_valid_requests_and_answers_strict_schemas(openai_server):
    schema = {"type": "object", "properties": {
        "level": {"type": "string", "enum": ["low", "high"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "inner": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
                  "additionalProperties": False}},
        "required": ["level", "tags", "inner"], "additionalProperties": False}
    ok = [
        {"model": "o1", "messages": USER, "max_completion_tokens": 500, "reasoning_effort": "high",
         "temperature": 1},
        {"model": "gpt-4.1", "messages": [*USER, {"role": "assistant", "content": None, "tool_calls": [CALL]},
                                          {"role": "tool", "tool_call_id": "call_1", "content": "r"}]},
        {"model": "gpt-4.1", "messages": USER, "response_format": _strict(schema)},
    ]
    answers = [httpx.post(f"{openai_server.base_url}/chat/completions", json=b) for b in ok]
    assert [a.status_code for a in answers] == [200, 200, 200]
    parsed = json.loads(answers[2].json()["choices"][0]["message"]["content"])
    assert parsed == {"level": "low", "tags": ["sample"], "inner": {"n": 1}}
    usage = answers[0].json()["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 64


def test_control_endpoint_scripts_failures_in_order(openai_server):
    root = openai_server.base_url.removesuffix("/v1")
    r = httpx.post(f"{root}/control", json={"model": "gpt-4.1", "fail": ["429", "500", "no_usage"]})
    assert r.status_code == 200
    assert httpx.post(f"{root}/control", json={"model": "x", "fail": ["teapot"]}).status_code == 400
    statuses, bodies = [], []
    for _ in range(4):
        resp = httpx.post(f"{openai_server.base_url}/chat/completions",
                          json={"model": "gpt-4.1", "messages": USER})
        statuses.append(resp.status_code)
        bodies.append(resp.json())
    assert statuses == [429, 500, 200, 200]
    assert "usage" not in bodies[2] and "usage" in bodies[3]
    logged = httpx.get(f"{root}/control/requests").json()["requests"]
    assert len(logged) == openai_server.count("gpt-4.1") == 4


def test_an_offline_run_sends_zero_requests(openai_server):
    s = Settings(offline=True, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=openai_server.base_url)
    asyncio.run(ModelFactory(s).chat_model("expert").ainvoke("plan a migration"))
    assert openai_server.count() == 0
