"""Two graphs in one process stand in for two replicas: with SWITCHYARD_DATABASE_URL set, the
dependencies share one PostgreSQL cache, so an answer stored by one is a hit for the other, and
a personal answer is never served to another user."""

from __future__ import annotations

import pytest

from switchyard.app import Switchyard
from switchyard.cache.pg_backend import PgSemanticCache

pytestmark = pytest.mark.integration


async def test_two_replicas_share_the_postgres_cache(sy, pg_url, pg_clean) -> None:
    settings = sy.settings.model_copy(update={"database_url": pg_url})
    replicas = []
    for _ in range(2):
        # Each replica's front door chooses the shared cache itself, from the database URL.
        replica = Switchyard(settings, database=sy.database, encoder=sy.encoder,
                             retriever=sy.retriever, classifier=sy.classifier)
        assert isinstance(replica.cache, PgSemanticCache)
        replicas.append(replica)

    async def ask(replica: Switchyard, text: str, user: str) -> dict:
        return (await replica.aask(text, user_id=user)).model_dump()

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

    for replica in replicas:
        await replica.aclose()
