"""The graph is embeddable and correct however it is run: injected dependencies, fallback between
tiers inside the graph, single-flight tickets with a lease, and one ``switchyard`` namespace."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fakes import FakeModels, ScriptedChat
from langchain_core.messages import HumanMessage

from switchyard.cache.faiss_backend import FaissSemanticCache
from switchyard.context import Context
from switchyard.graph import build_graph
from switchyard.runner import record_from_state
from switchyard.settings import Settings

pytestmark = pytest.mark.integration

FAST_Q = "How do I change the timezone of my workspace settings?"


def _variant(deps, tmp_path: Path, *, lease_s: float = 30.0, **models):
    """The session's dependencies with their own settings, cache and (scripted) models."""
    settings = deps.settings.model_copy(deep=True)
    settings.cache.single_flight_timeout_s = lease_s
    cache = FaissSemanticCache(tmp_path / f"cache-{time.monotonic_ns()}.sqlite", settings.cache,
                               hash_key=b"test-key")
    return dataclasses.replace(deps, settings=settings, cache=cache,
                               models=FakeModels(settings, **models))


async def _ask(graph, text: str, user: str = "u-0009", **ctx) -> dict:
    state = await graph.ainvoke({"messages": [HumanMessage(text)]},
                                context=Context(user_id=user, **ctx))
    return record_from_state(state)


async def test_two_graphs_with_different_settings_share_a_process(deps, tmp_path):
    settings_b = deps.settings.model_copy(deep=True)
    settings_b.tiers["fast"] = settings_b.tiers["fast"].model_copy(update={"model": "tiny-local"})
    a = _variant(deps, tmp_path)
    b = dataclasses.replace(_variant(deps, tmp_path), settings=settings_b,
                            models=FakeModels(settings_b))
    graph_a, graph_b = build_graph(a).compile(), build_graph(b).compile()
    rec_a, rec_b = await asyncio.gather(_ask(graph_a, FAST_Q), _ask(graph_b, FAST_Q))
    assert rec_a["agent"] == rec_b["agent"] == "fast"
    assert rec_a["model"].endswith("gpt-4o-mini") and rec_b["model"].endswith("tiny-local")
    # Each graph has its own cache: a repeat hits in A, and B's store never reached A.
    assert (await _ask(graph_a, FAST_Q))["cache_hit"] is True
    assert a.cache.stats()["entries"] == 1 and b.cache.stats()["entries"] == 1


async def test_fallback_to_another_tier_happens_inside_the_graph(deps, tmp_path):
    down = ScriptedChat(reply=lambda messages, n: ConnectionError("fast tier provider is down"))
    variant = _variant(deps, tmp_path, fast=down)
    graph = build_graph(variant).compile()  # no wrapper: a plain ainvoke
    rec = await _ask(graph, FAST_Q)
    assert rec["route"] == "fast" and rec["agent"] == "standard"
    assert rec["fallback_from"] == ["fast"] and rec["answer"] and not rec["error"]
    assert rec["cache"]["stored"] is False, "a fallback answer is not cached under the fast tier"
    assert down.calls, "the fast tier was tried first"


async def test_when_every_tier_fails_the_turn_ends_with_a_clear_error(deps, tmp_path):
    def down():
        return ScriptedChat(reply=lambda messages, n: ConnectionError("provider down"))

    graph = build_graph(_variant(deps, tmp_path, fast=down(), standard=down(),
                                 expert=down())).compile()
    rec = await _ask(graph, FAST_Q)
    assert rec["fallback_from"] == ["fast", "standard", "expert"]
    assert rec["error"] and "retry" in rec["error"] and rec["answer"] == rec["error"]
    assert rec["cache"]["stored"] is False


async def test_a_cancelled_run_frees_its_twins_at_once(deps, tmp_path):
    started = asyncio.Event()

    async def hang(messages, n):
        if n == 1:
            started.set()
            await asyncio.sleep(3600)
        return "Open Settings > Workspace > Time zone [1]."

    variant = _variant(deps, tmp_path, lease_s=30.0, fast=ScriptedChat(reply=hang))
    graph = build_graph(variant).compile()
    leader = asyncio.create_task(_ask(graph, FAST_Q))
    await asyncio.wait_for(started.wait(), 30)
    leader.cancel()  # a client disconnect, a deadline outside the graph
    with pytest.raises(asyncio.CancelledError):
        await leader
    t0 = time.perf_counter()
    twin = await _ask(graph, FAST_Q, user="u-0010")
    assert twin["answer"] and not twin["cache_hit"]
    assert time.perf_counter() - t0 < 10, "the cancelled leader's flight must be released at once"


async def test_a_stuck_leader_costs_its_twins_at_most_one_lease(deps, tmp_path):
    lease = 1.0
    started = asyncio.Event()

    async def stuck_then_fine(messages, n):
        if n == 1:  # the leader's model call never returns within the test
            started.set()
            await asyncio.sleep(3600)
        return "Open Settings > Workspace > Time zone [1]."

    variant = _variant(deps, tmp_path, lease_s=lease, fast=ScriptedChat(reply=stuck_then_fine))
    graph = build_graph(variant).compile()
    leader = asyncio.create_task(_ask(graph, FAST_Q))
    await asyncio.wait_for(started.wait(), 30)
    t0 = time.perf_counter()
    twin = await _ask(graph, FAST_Q, user="u-0010")
    waited = time.perf_counter() - t0
    leader.cancel()
    assert twin["answer"] and twin["agent"] == "fast"
    assert waited < lease + 5.0, f"the twin waited {waited:.1f} s for a lease of {lease} s"


def test_a_service_with_its_own_tools_graph_and_agents_packages_can_embed_switchyard(
        tmp_path, switchyard_home, deps):
    service = tmp_path / "service"
    for name in ("tools", "graph", "agents", "knowledge"):
        (service / name).mkdir(parents=True)
        (service / name / "__init__.py").write_text(f"OWNER = 'the service: {name}'\n")
    (service / "main.py").write_text(textwrap.dedent("""
        import asyncio, json
        import tools, graph, agents
        from langchain_core.messages import HumanMessage
        from switchyard.context import Context
        from switchyard.graph import graph as switchyard_graph

        assert tools.OWNER == "the service: tools" and graph.OWNER == "the service: graph"
        state = asyncio.run(switchyard_graph.ainvoke(
            {"messages": [HumanMessage("I forgot my password")]},
            context=Context(user_id="u-0003")))
        print(json.dumps({"agent": state["agent"], "answer": state["answer"][:80]}))
    """))
    env = {**os.environ, "SWITCHYARD_HOME": str(switchyard_home)}
    out = subprocess.run([sys.executable, "main.py"], cwd=service, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert '"agent": "fast"' in out.stdout.splitlines()[-1]


def test_settings_from_the_environment_never_decide_an_injected_graph(deps, tmp_path, monkeypatch):
    """The bench and services pass settings in; changing the environment afterwards changes
    nothing for a graph that was built with them."""
    settings = Settings(home=tmp_path / "elsewhere")
    monkeypatch.setenv("SWITCHYARD_TIERS__FAST__MODEL", "from-env")
    variant = dataclasses.replace(_variant(deps, tmp_path), settings=settings,
                                  models=FakeModels(settings))
    assert variant.models.chat_model("fast").stands_in_for == settings.tiers["fast"].model


async def test_a_tier_that_cannot_call_tools_never_gets_a_request_that_needs_them(deps, tmp_path):
    variant = _variant(deps, tmp_path)
    standard = variant.settings.tiers["standard"]
    variant.settings.tiers["standard"] = standard.model_copy(update={"supports_tools": False})
    graph = build_graph(variant).compile()
    needs_tools = await _ask(graph, "Help me debug this system error: webhook deliveries fail with 401",
                             user="u-0001")
    assert needs_tools["complexity"] == "medium" and needs_tools["route"] == "expert"
    assert "cannot call tools" in needs_tools["route_reason"]
    # A request that needs no tools stays on the tool-less tier.
    no_tools = await _ask(graph, "How do I connect Salesforce to Quillstack step by step?",
                          user="u-0001", force_tier="standard")
    assert no_tools["route"] == "standard" and no_tools["route_reason"] is None
    assert no_tools["agent"] == "standard" and no_tools["tools_used"] == []


async def test_a_running_graph_notices_a_new_index_and_never_serves_the_old_version(
        deps, tmp_path):
    import shutil

    from switchyard.knowledge.ingest import ingest
    from switchyard.knowledge.retriever import Retriever

    articles, index = tmp_path / "articles", tmp_path / "index"
    shutil.copytree(deps.settings.articles_dir, articles)
    settings = deps.settings.model_copy(deep=True, update={"articles_dir": articles})
    await asyncio.to_thread(ingest, articles_dir=articles, index_dir=index)
    retriever = await asyncio.to_thread(Retriever, index_dir=index, articles_dir=articles,
                                        settings=settings, embedder=deps.embedder)
    variant = dataclasses.replace(_variant(deps, tmp_path), retriever=retriever)
    graph = build_graph(variant).compile()
    question = "How do I invite a new user to my workspace?"
    first = await _ask(graph, question, user=None)
    assert first["answer"] and (await _ask(graph, question, user=None))["cache_hit"] is True

    # Another process edits an article and commits a new index while this graph runs.
    article = articles / "inviting-users.md"
    article.write_text(article.read_text() + "\n\nInvitations now expire after 3 days.\n")
    report = await asyncio.to_thread(ingest, articles_dir=articles, index_dir=index)
    after = await _ask(graph, question, user=None)
    assert after["cache_hit"] is False, "an answer from the old knowledge version was served"
    assert after["cache"]["kb_version"] == report.kb_version != first["cache"]["kb_version"]
