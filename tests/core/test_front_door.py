"""The front door builds every collaborator once, in one place, from the settings it is given."""

from __future__ import annotations

import pytest

from switchyard.app import PARTS, Switchyard
from switchyard.core.settings import Settings

pytestmark = pytest.mark.integration


def test_opening_loads_the_knowledge_index_once_and_builds_one_cache(
        settings: Settings, tmp_path, monkeypatch: pytest.MonkeyPatch, sy) -> None:
    """A prepared home: the index is read from disk exactly once (ingest finds it current and
    hands what it loaded to the retriever) and exactly one cache object opens the cache file."""
    from switchyard.cache import faiss_backend
    from switchyard.knowledge import ingest, retriever

    loads: list[object] = []
    caches: list[object] = []
    real_load, real_init = ingest.load_index, faiss_backend.FaissSemanticCache.__init__

    def counting_load(index_dir):  # type: ignore[no-untyped-def]
        loads.append(index_dir)
        return real_load(index_dir)

    def counting_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        caches.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(ingest, "load_index", counting_load)
    monkeypatch.setattr(retriever, "load_index", counting_load)
    monkeypatch.setattr(faiss_backend.FaissSemanticCache, "__init__", counting_init)
    # ``sy`` prepared this home: this opening finds everything current, as a restart would.
    with Switchyard.open(settings, encoder=sy.encoder) as opened:
        assert opened.report is not None and opened.report.knowledge.embedded_chunks == 0
        assert opened.retriever.kb_version == opened.report.knowledge.kb_version
        assert opened.deps.cache is opened.cache
        assert opened.graph is opened.graph  # compiled once
    assert len(loads) == 1, loads
    assert len(caches) == 1, caches


def test_each_collaborator_is_built_on_first_use_and_only_once(settings: Settings, sy) -> None:
    fresh = Switchyard(settings, encoder=sy.encoder)
    assert not {name for name in PARTS if name in fresh._built} - {"encoder"}
    cache = fresh.cache
    assert fresh.cache is cache and "classifier" not in fresh._built  # nothing else was built
    assert fresh.database is fresh.database and fresh.models is fresh.models
    fresh.close()
    with pytest.raises(RuntimeError, match="closed"):
        fresh.retriever  # noqa: B018


def test_two_switchyards_with_different_settings_share_a_process(settings: Settings, tmp_path,
                                                                 sy) -> None:
    other = settings.model_copy(update={"home": tmp_path / "other-home", "default_tenant": "b"})
    a, b = Switchyard(settings, encoder=sy.encoder), Switchyard(other, encoder=sy.encoder)
    try:
        assert a.cache is not b.cache
        assert a.cache.stats()["path"] != b.cache.stats()["path"]
        assert a.database.path != b.database.path
    finally:
        a.close()
        b.close()


def test_unknown_parts_are_refused_by_name(settings: Settings) -> None:
    with pytest.raises(TypeError, match="unknown switchyard parts: \\['cahce'\\]"):
        Switchyard(settings, cahce=object())


def test_a_host_fastapi_app_embeds_switchyard_with_its_own_settings_and_no_environment(
        tmp_path, monkeypatch: pytest.MonkeyPatch, sy) -> None:
    """A host service passes its own settings object; no SWITCHYARD_* variable is read."""
    import asyncio
    import os

    import httpx
    from fastapi import FastAPI

    for name in [k for k in os.environ if k.startswith("SWITCHYARD_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # nothing lands in a default ./.switchyard either
    host_settings = Settings(home=tmp_path / "host-home", offline=True,
                             default_tenant="host-tenant")
    host = FastAPI()

    @host.post("/support")
    async def support(body: dict) -> dict:
        record = await host.state.switchyard.aask(body["question"], user_id=body.get("user"))
        return {"answer": record.answer, "tier": record.agent, "cost": record.cost_usd,
                "cache": record.cache_hit}

    async def run() -> list[dict]:
        # The host opens switchyard once at start-up and keeps it: the encoder is shared with
        # the test session only to save its load time.
        host.state.switchyard = await Switchyard.aopen(host_settings, encoder=sy.encoder)
        try:
            transport = httpx.ASGITransport(app=host)
            async with httpx.AsyncClient(transport=transport, base_url="http://host") as client:
                return [(await client.post("/support", json={
                    "question": "How do I add a teammate to my workspace?"})).json()
                    for _ in range(2)]
        finally:
            await host.state.switchyard.aclose()

    first, again = asyncio.run(run())
    assert first["tier"] == "fast" and len(first["answer"]) > 40 and first["cost"] > 0
    assert again["cache"] is True and again["cost"] == 0
    assert (tmp_path / "host-home" / "customers.sqlite").exists()  # its own home
    assert not (tmp_path / ".switchyard").exists()
