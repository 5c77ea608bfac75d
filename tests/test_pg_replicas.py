"""Two graphs in one process stand in for two replicas: with SWITCHYARD_DATABASE_URL set, the
dependencies share one PostgreSQL cache, so an answer stored by one is a hit for the other, and
a personal answer is never served to another user."""

from __future__ import annotations

import dataclasses

import pytest
from langchain_core.messages import HumanMessage

from switchyard.cache.pg_backend import PgSemanticCache
from switchyard.context import Context
from switchyard.graph import build_graph
from switchyard.graph.dependencies import build_cache
from switchyard.runner import record_from_state

pytestmark = pytest.mark.integration


async def test_two_replicas_share_the_postgres_cache(deps, pg_url, pg_clean) -> None:
    settings = deps.settings.model_copy(update={"database_url": pg_url})
    replicas = []
    for _ in range(2):
        cache = build_cache(settings)
        assert isinstance(cache, PgSemanticCache)
        replicas.append(build_graph(dataclasses.replace(deps, settings=settings,
                                                        cache=cache)).compile())

    async def ask(graph, text: str, user: str) -> dict:
        state = await graph.ainvoke({"messages": [HumanMessage(text)]},
                                    context=Context(user_id=user))
        return record_from_state(state)

    public = "How do I invite a new user to my workspace?"
    first = await ask(replicas[0], public, "u-0003")
    assert first["cache_hit"] is False and first["cache"]["stored"] is True
    second = await ask(replicas[1], public, "u-0004")
    assert second["cache_hit"] is True and second["answer"] == first["answer"]

    personal = "What's my account balance?"
    mine = await ask(replicas[0], personal, "u-0001")
    assert mine["cache"]["stored"] is True
    theirs = await ask(replicas[1], personal, "u-0002")
    assert theirs["cache_hit"] is False, "a personal answer crossed users between replicas"
    again = await ask(replicas[1], personal, "u-0001")
    assert again["cache_hit"] is True and again["answer"] == mine["answer"]
