"""Shared test setup: every test session gets its own SWITCHYARD_HOME and runs offline."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# The local OpenAI contract server's fixtures (openai_server, second_openai_server), and the
# small knowledge base (small_kb, kb_copy).
pytest_plugins = ["support.fixtures", "support.knowledge_fixtures"]

_HOME = Path(tempfile.mkdtemp(prefix="switchyard-test-"))
os.environ["SWITCHYARD_HOME"] = str(_HOME)
os.environ["SWITCHYARD_OFFLINE"] = "true"
os.environ.pop("OPENAI_API_KEY", None)
os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def switchyard_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def settings(switchyard_home: Path):
    """The test session's settings: its own home, offline (from the environment set above)."""
    from switchyard.core.settings import Settings

    return Settings()


@pytest.fixture(scope="session")
def sy(settings):
    """switchyard opened through its front door on the test home (database, index, classifier,
    cache and graph built once for the session)."""
    from switchyard.app import Switchyard

    opened = Switchyard.open(settings)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def deps(sy):
    """The session switchyard's dependencies (what the graph's nodes and agents use)."""
    return sy.deps


@pytest.fixture(scope="session")
def nodes(deps):
    from switchyard.graph.nodes import RouterNodes

    return RouterNodes(deps)


# -- PostgreSQL (switchyard.pg): a fresh, migrated database per test session ------------------
# CI starts a throwaway server with scripts/dev-postgres.sh and sets SWITCHYARD_TEST_DATABASE_URL;
# locally a server started by that script (default dir) is found too. Otherwise these tests skip.

_REPO = Path(__file__).resolve().parent.parent
PG_TABLES = "sy_cache_entries, sy_cache_partitions, sy_cache_counters, sy_flights, sy_rate_limits, sy_slots"


def _server_url() -> str | None:
    url = os.environ.get("SWITCHYARD_TEST_DATABASE_URL")
    if url:
        return url
    import subprocess

    try:
        out = subprocess.run([str(_REPO / "scripts" / "dev-postgres.sh"), "url"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[-1] if out.returncode == 0 and lines else None


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of a fresh database with the current schema; dropped at the end of the session."""
    import uuid

    psycopg = pytest.importorskip("psycopg", reason="PostgreSQL tests need the postgres extra")
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    server = _server_url()
    if not server:
        pytest.skip("no PostgreSQL: set SWITCHYARD_TEST_DATABASE_URL "
                    "(scripts/dev-postgres.sh start prints one)")
    from switchyard.pg.schema import migrate

    name = f"sy_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(server, dbname=name)
    assert conninfo_to_dict(url)["dbname"] == name
    migrate(url)
    yield url
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_pool(pg_url: str):
    from switchyard.pg.pool import open_pool

    pool = open_pool(pg_url, max_size=4)
    yield pool
    pool.close()


@pytest.fixture
def pg_clean(pg_pool) -> None:
    """Empty every switchyard table before the test (the schema stays)."""
    with pg_pool.connection() as conn:
        conn.execute(f"TRUNCATE {PG_TABLES}")
        conn.execute("UPDATE sy_cache_totals SET n = 0, bytes = 0")
