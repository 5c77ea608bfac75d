"""A user's threads are theirs by the owner part of the key, on both stores.

Found by a hostile sweep on PostgreSQL: forget matched ``%:<hash>:%`` anywhere in the key, so
another user's thread whose id held that hash (``notes:<hash>:keep``, allowed by the id rules)
was counted and deleted with the forgotten user's."""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.checkpoint.base import empty_checkpoint

from switchyard.core.settings import Settings
from switchyard.core.tracing import user_hash
from switchyard.threads.store import open_thread_store, owned_by, thread_key

SECRET = "thread-owner-secret"


def _settings(**kw: object) -> Settings:
    return Settings(secret=SECRET, **kw)


async def _put(store: object, key: str) -> None:
    await store.saver.aput({"configurable": {"thread_id": key, "checkpoint_ns": ""}},  # type: ignore[attr-defined]
                           empty_checkpoint(), {}, {})


async def _check(store: object, settings: Settings) -> None:
    victim, other = (user_hash(u, settings.hash_key) or "" for u in ("u-0550", "u-0002"))
    mine = thread_key("org-17", victim, "my-thread")
    # u-0002 names a thread after u-0550's hash (ids may hold colons), in a tenant with one too.
    crafted = thread_key("org-1", other, f"notes:{victim}:keep")
    tenant_colon = thread_key(f"t:{victim}", other, "x")
    legacy = f"org-1:{other}:notes:{victim}:keep"  # written before the escaping
    for key in (mine, crafted, tenant_colon, legacy):
        await _put(store, key)
    assert crafted.count(":") == 2 and tenant_colon.count(":") == 2
    assert await store.thread_ids_of("u-0550") == [mine]  # type: ignore[attr-defined]
    assert sorted(await store.thread_ids_of("u-0002")) == sorted(  # type: ignore[attr-defined]
        [crafted, tenant_colon, legacy])
    assert await store.forget_user("u-0550") == {"threads": 1, "checkpoints": 1}  # type: ignore[attr-defined]
    assert len(await store.thread_ids_of("u-0002")) == 3  # type: ignore[attr-defined]


def test_the_owner_is_the_second_of_three_parts() -> None:
    assert thread_key("a:b", "h", "c:d%e") == "a%3Ab:h:c%3Ad%25e"
    assert owned_by("org-1:h:t", "h") and not owned_by("org-1:x:notes:h:keep", "h")
    assert thread_key("org-1", "h", "plain") == "org-1:h:plain"  # unchanged without colons


async def test_forget_takes_only_the_users_own_threads_sqlite(tmp_path: Path) -> None:
    settings = _settings(home=tmp_path)
    async with open_thread_store(settings, tmp_path / "threads.sqlite") as store:
        await _check(store, settings)


@pytest.mark.integration
async def test_forget_takes_only_the_users_own_threads_postgres(pg_url: str, pg_clean: None,
                                                                tmp_path: Path) -> None:
    settings = _settings(home=tmp_path, database_url=pg_url)
    async with open_thread_store(settings, tmp_path / "unused.sqlite") as store:
        await _check(store, settings)
