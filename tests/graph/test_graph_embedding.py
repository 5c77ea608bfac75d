"""The graph is embeddable and correct however it is run: injected dependencies, fallback between
tiers inside the graph, single-flight tickets with a lease, and one ``switchyard`` namespace."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from support.fakes import FakeModels, ScriptedChat
from support.front_door import variant

from switchyard.app import Switchyard
from switchyard.cache.faiss_backend import FaissSemanticCache
from switchyard.core.context import Context
from switchyard.core.settings import Settings
from switchyard.record import RoutingRecord

pytestmark = pytest.mark.integration

FAST_Q = "How do I change the timezone of my workspace settings?"


def _variant(sy: Switchyard, tmp_path: Path, *, lease_s: float = 30.0,
             settings: Settings | None = None, **models) -> Switchyard:
    """The session's switchyard with its own settings, cache and (scripted) models."""
    settings = (settings or sy.settings).model_copy(deep=True)
    settings.cache.single_flight_timeout_s = lease_s
    cache = FaissSemanticCache(tmp_path / f"cache-{time.monotonic_ns()}.sqlite", settings.cache,
                               hash_key=b"test-key")
    return variant(sy, settings, cache=cache, models=FakeModels(settings, **models))


async def _ask(graph, text: str, user: str = "u-0009", **ctx) -> dict:
    state = await graph.ainvoke({"messages": [HumanMessage(text)]},
                                context=Context(user_id=user, **ctx))
    return RoutingRecord.from_state(state).model_dump()


async def test_two_graphs_with_different_settings_share_a_process(sy, tmp_path):
    settings_b = sy.settings.model_copy(deep=True)
    settings_b.tiers["fast"] = settings_b.tiers["fast"].model_copy(update={"model": "tiny-local"})
    a = _variant(sy, tmp_path)
    b = _variant(sy, tmp_path, settings=settings_b)
    graph_a, graph_b = a.graph, b.graph
    rec_a, rec_b = await asyncio.gather(_ask(graph_a, FAST_Q), _ask(graph_b, FAST_Q))
    assert rec_a["agent"] == rec_b["agent"] == "fast"
    assert rec_a["model"].endswith("gpt-4o-mini") and rec_b["model"].endswith("tiny-local")
    # Each graph has its own cache: a repeat hits in A, and B's store never reached A.
    assert (await _ask(graph_a, FAST_Q))["cache_hit"] is True
    assert a.cache.stats()["entries"] == 1 and b.cache.stats()["entries"] == 1


async def test_fallback_to_another_tier_happens_inside_the_graph(sy, tmp_path):
    down = ScriptedChat(reply=lambda messages, n: ConnectionError("fast tier provider is down"))
    variant = _variant(sy, tmp_path, fast=down)
    graph = variant.graph  # no wrapper: a plain ainvoke
    rec = await _ask(graph, FAST_Q)
    assert rec["route"] == "fast" and rec["agent"] == "standard"
    assert rec["fallback_from"] == ["fast"] and rec["answer"] and not rec["error"]
    assert rec["cache"]["stored"] is False, "a fallback answer is not cached under the fast tier"
    assert down.calls, "the fast tier was tried first"


async def test_when_every_tier_fails_the_turn_ends_with_a_clear_error(sy, tmp_path):
    def down():
        return ScriptedChat(reply=lambda messages, n: ConnectionError("provider down"))

    graph = _variant(sy, tmp_path, fast=down(), standard=down(), expert=down()).graph
    rec = await _ask(graph, FAST_Q)
    assert rec["fallback_from"] == ["fast", "standard", "expert"]
    assert rec["error"] and "retry" in rec["error"] and rec["answer"] == rec["error"]
    assert rec["cache"]["stored"] is False


async def test_a_cancelled_run_frees_its_twins_at_once(sy, tmp_path):
    started = asyncio.Event()

    async def hang(messages, n):
        if n == 1:
            started.set()
            await asyncio.sleep(3600)
        return "Open Settings > Workspace > Time zone [1]."

    variant = _variant(sy, tmp_path, lease_s=30.0, fast=ScriptedChat(reply=hang))
    graph = variant.graph
    leader = asyncio.create_task(_ask(graph, FAST_Q))
    await asyncio.wait_for(started.wait(), 30)
    leader.cancel()  # a client disconnect, a deadline outside the graph
    with pytest.raises(asyncio.CancelledError):
        await leader
    t0 = time.perf_counter()
    twin = await _ask(graph, FAST_Q, user="u-0010")
    assert twin["answer"] and not twin["cache_hit"]
    assert time.perf_counter() - t0 < 10, "the cancelled leader's flight must be released at once"


async def test_a_stuck_leader_costs_its_twins_at_most_one_lease(sy, tmp_path):
    lease = 1.0
    started = asyncio.Event()

    async def stuck_then_fine(messages, n):
        if n == 1:  # the leader's model call never returns within the test
            started.set()
            await asyncio.sleep(3600)
        return "Open Settings > Workspace > Time zone [1]."

    variant = _variant(sy, tmp_path, lease_s=lease, fast=ScriptedChat(reply=stuck_then_fine))
    graph = variant.graph
    leader = asyncio.create_task(_ask(graph, FAST_Q))
    await asyncio.wait_for(started.wait(), 30)
    t0 = time.perf_counter()
    twin = await _ask(graph, FAST_Q, user="u-0010")
    waited = time.perf_counter() - t0
    leader.cancel()
    assert twin["answer"] and twin["agent"] == "fast"
    assert waited < lease + 5.0, f"the twin waited {waited:.1f} s for a lease of {lease} s"


def test_a_service_with_its_own_tools_graph_and_agents_packages_can_embed_switchyard(
        tmp_path, switchyard_home, sy):
    service = tmp_path / "service"
    for name in ("tools", "graph", "agents", "knowledge"):
        (service / name).mkdir(parents=True)
        (service / name / "__init__.py").write_text(f"OWNER = 'the service: {name}'\n")
    (service / "main.py").write_text(textwrap.dedent("""
        import asyncio, json
        import tools, graph, agents
        from switchyard import Switchyard

        assert tools.OWNER == "the service: tools" and graph.OWNER == "the service: graph"
        with Switchyard.open() as sy:
            record = sy.ask("I forgot my password", user_id="u-0003")
        print(json.dumps({"agent": record.agent, "answer": record.answer[:80]}))
    """))
    env = {**os.environ, "SWITCHYARD_HOME": str(switchyard_home)}
    out = subprocess.run([sys.executable, "main.py"], cwd=service, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert '"agent": "fast"' in out.stdout.splitlines()[-1]


def test_settings_from_the_environment_never_decide_an_injected_graph(sy, tmp_path, monkeypatch):
    """The bench and services pass settings in; changing the environment afterwards changes
    nothing for a graph that was built with them."""
    settings = Settings(home=tmp_path / "elsewhere")
    monkeypatch.setenv("SWITCHYARD_TIERS__FAST__MODEL", "from-env")
    injected = _variant(sy, tmp_path, settings=settings)
    assert injected.models.chat_model("fast").stands_in_for == settings.tiers["fast"].model
    assert Switchyard(settings).models.chat_model("fast").stands_in_for != "from-env"


async def test_a_tier_that_cannot_call_tools_never_gets_a_request_that_needs_them(sy, tmp_path):
    toolless = _variant(sy, tmp_path)
    standard = toolless.settings.tiers["standard"]
    toolless.settings.tiers["standard"] = standard.model_copy(update={"supports_tools": False})
    graph = toolless.graph
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
        sy, tmp_path):
    import shutil

    from switchyard.knowledge.ingest import ingest
    from switchyard.knowledge.retriever import Retriever

    articles, index = tmp_path / "articles", tmp_path / "index"
    shutil.copytree(sy.settings.articles_dir, articles)
    # The index of a home is <home>/index: this graph's home is tmp_path.
    settings = sy.settings.model_copy(deep=True, update={"articles_dir": articles,
                                                         "home": tmp_path})
    assert settings.index_dir == index

    def ingest_now():
        return ingest(articles_dir=articles, index_dir=index, chunking=settings.retrieval,
                      embed=sy.encoder.embed)

    await asyncio.to_thread(ingest_now)
    retriever = await asyncio.to_thread(Retriever, settings, sy.encoder)
    graph = variant(sy, settings, retriever=retriever,
                    cache=FaissSemanticCache(tmp_path / "kb-cache.sqlite", settings.cache,
                                             hash_key=b"test-key")).graph
    question = "How do I invite a new user to my workspace?"
    first = await _ask(graph, question, user=None)
    assert first["answer"] and (await _ask(graph, question, user=None))["cache_hit"] is True

    # Another process edits an article and commits a new index while this graph runs.
    article = articles / "inviting-users.md"
    article.write_text(article.read_text() + "\n\nInvitations now expire after 3 days.\n")
    report = await asyncio.to_thread(ingest_now)
    after = await _ask(graph, question, user=None)
    assert after["cache_hit"] is False, "an answer from the old knowledge version was served"
    assert after["cache"]["kb_version"] == report.kb_version != first["cache"]["kb_version"]
