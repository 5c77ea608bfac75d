"""Fault injection on the storage under SWITCHYARD_HOME: a full disk and a read-only home.

A real tmpfs filled to the brim stands in for a full disk, a read-only bind mount for a
read-only home (root ignores chmod), and injected ``OSError``s cover the errno mapping.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest
from support.faultkit import fill, full_disk, read_only
from typer.testing import CliRunner

from switchyard.core import storage
from switchyard.service import health
from switchyard.tools import database as db

pytestmark = pytest.mark.integration

ARTICLES = Path(__file__).resolve().parents[2] / "switchyard" / "domains" / "quillstack" / "articles"
SMALL = ["resetting-your-password", "refund-policy", "api-rate-limits"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small complete home: database, a three-article index, an (empty) cache."""
    from support.bundled_accounts import accounts_seed
    from support.knowledge_fixtures import ingest_at

    base = tmp_path_factory.mktemp("storage-template")
    home, articles = base / "home", base / "articles"
    articles.mkdir()
    for slug in SMALL:
        shutil.copy(ARTICLES / f"{slug}.md", articles)
    db.seed(home / "customers.sqlite", accounts_seed())
    ingest_at(articles, home / "index")
    return base


@pytest.fixture
def use_home(monkeypatch: pytest.MonkeyPatch):
    def point(home: Path, articles: Path) -> None:
        monkeypatch.setenv("SWITCHYARD_HOME", str(home))
        monkeypatch.setenv("SWITCHYARD_ARTICLES_DIR", str(articles))

    return point


def _settings():
    from switchyard.core.settings import Settings

    return Settings()


def _cli(*args: str):
    from switchyard.cli.main import app

    return CliRunner().invoke(app, list(args))


def test_errno_mapping_gives_clear_messages() -> None:
    full = storage.describe_error(OSError(errno.ENOSPC, "No space left on device"), "/h")
    assert full and full.startswith("the server's storage is full (/h)")
    ro = storage.describe_error(OSError(errno.EROFS, "Read-only file system"), "/h")
    assert ro and "read-only" in ro
    assert "permission" in (storage.describe_error(PermissionError(errno.EACCES, "denied")) or "")
    assert "full" in (storage.describe_error(sqlite3.OperationalError("database or disk is full"))
                      or "")
    assert storage.describe_error(ValueError("nope")) is None


def test_healthy_home_has_no_problems(template: Path, tmp_path: Path, use_home) -> None:
    home = shutil.copytree(template / "home", tmp_path / "home")
    use_home(home, template / "articles")
    assert health.storage_health(_settings()) == []


def test_injected_enospc_is_reported_as_full(template: Path, tmp_path: Path, use_home,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    home = shutil.copytree(template / "home", tmp_path / "home")
    use_home(home, template / "articles")

    def no_space(path: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(storage, "probe_write", no_space)
    problems = health.storage_health(_settings())
    assert [(p.component, p.kind) for p in problems] == [("home", "full")]
    assert "the server's storage is full" in problems[0].message


def test_full_disk_readiness_serve_and_commands(template: Path, tmp_path: Path,
                                                use_home) -> None:
    with full_disk(tmp_path / "disk", size="48m") as disk:
        home = shutil.copytree(template / "home", disk / "home")
        use_home(home, template / "articles")
        path = home / "customers.sqlite"
        before = db.read_meta(path)
        fill(disk)
        problems = health.storage_health(_settings())
        assert ("home", "full") in [(p.component, p.kind) for p in problems]

        # /readyz: not ready, with the reason (the graph is up in production; here no lifespan)
        from switchyard.service.app import ServiceConfig, create_app

        app = create_app(ServiceConfig(prepare=False))

        async def ready() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://t") as client:
                return await client.get("/readyz")

        import asyncio

        resp = asyncio.run(ready())
        assert resp.status_code == 503
        assert resp.json()["checks"]["storage"] is False
        assert "storage is full" in resp.json()["problems"][0]["message"]

        serve = _cli("serve", "--port", "1")
        assert serve.exit_code == 1 and "storage is full" in serve.output
        assert "Traceback" not in serve.output

        forced = _cli("db", "seed", "--force")  # must write: fails cleanly, data intact
        assert forced.exit_code == 1 and "Traceback" not in forced.output
        assert "full" in forced.output
        (disk / ".filler").unlink()  # space back (a WAL read needs room for its -shm index)
        assert db.read_meta(path) == before
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    # (the mount is gone; the copy on it with it)


def test_read_only_home_commands_say_so_without_tracebacks(template: Path, tmp_path: Path,
                                                           use_home) -> None:
    home = shutil.copytree(template / "home", tmp_path / "ro" / "home")
    use_home(home, template / "articles")
    from switchyard.app import Switchyard

    with Switchyard(_settings()) as sy:
        sy.cache.stats()  # create the cache files while writable
    with read_only(home):
        problems = health.storage_health(_settings())
        assert [(p.component, p.kind) for p in problems] == [("home", "read_only")]
        info = _cli("db", "info")
        assert info.exit_code == 0 and "No customer database" not in info.output
        for args in (["cache", "stats"], ["ask", "I forgot my password"]):
            out = _cli(*args)
            assert "Traceback" not in out.output, out.output
            if out.exit_code != 0:
                assert "read-only" in out.output, out.output
