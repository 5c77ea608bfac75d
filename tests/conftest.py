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
os.environ.setdefault("LANGGRAPH_CLI_NO_ANALYTICS", "1")  # langgraph dev, started by tests
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI every test must run: a skip (a missing install step, a service that did not start)
    proves nothing there, so any skip fails the session; the summary lists each one's reason."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if _in_ci() and skipped and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if not (_in_ci() and skipped):
        return
    terminalreporter.write_sep("=", f"CI runs every test: {len(skipped)} skipped, so the run fails",
                               red=True)
    for report in skipped:
        _, _, reason = report.longrepr if isinstance(report.longrepr, tuple) else ("", 0, "")
        terminalreporter.write_line(f"SKIPPED {report.nodeid}: {reason}")


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
# SWITCHYARD_TEST_DATABASE_URL, or a server started by scripts/dev-postgres.sh (default dir), is
# used when there is one. Otherwise the first test that needs PostgreSQL starts a throwaway
# server with that script in a directory of its own, stopped and removed when the session ends:
# the README's test command alone runs every test on a clean machine (and .ci/run adds nothing).

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
def pg_server():
    """URL of the PostgreSQL server this session uses: the configured or running one, or a
    throwaway server it starts (and stops) itself."""
    import shutil
    import subprocess

    url = _server_url()
    if url:
        yield url
        return
    own = Path(tempfile.mkdtemp(prefix="switchyard-test-pg-", dir="/var/tmp"))
    env = {**os.environ, "SWITCHYARD_PG_DIR": str(own)}
    script = str(_REPO / "scripts" / "dev-postgres.sh")
    try:
        started = subprocess.run([script, "start"], env=env, capture_output=True, text=True,
                                 timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        started = subprocess.CompletedProcess([script], 1, "", str(exc))
    if started.returncode != 0 or not started.stdout.strip():
        shutil.rmtree(own, ignore_errors=True)
        why = (f"no PostgreSQL: SWITCHYARD_TEST_DATABASE_URL is unset and a throwaway server "
               f"did not start ({started.stderr.strip()[-400:]})")
        pytest.skip(why)  # in CI, a failure of the session (pytest_sessionfinish)
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([script, "stop"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(own, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_url(pg_server: str) -> str:
    """URL of a fresh database with the current schema; dropped at the end of the session."""
    import uuid

    psycopg = pytest.importorskip("psycopg", reason="PostgreSQL tests need the postgres extra")
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    server = pg_server
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
