"""PostgreSQL + pgvector specifics: schema migrations, replicas writing at once, filtered HNSW
search, purge. The behaviour shared with the embedded backend is tested in test_cache.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from switchyard.cache import CachedAnswer, Partition
from switchyard.core.settings import CacheSettings

REPO = Path(__file__).resolve().parents[2]


def unit(rng: np.random.Generator, dim: int = 384) -> np.ndarray:
    v = rng.standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def ans(text: str, ttl: float = 600.0) -> CachedAnswer:
    return CachedAnswer.create(answer=f"answer to {text}", agent="fast", model="m", intent="faq",
                               complexity="low", original_text=text, ttl_s=ttl)


def part(user: str | None = None, tier: str = "fast") -> Partition:
    return Partition.for_request(tenant="acme", user_id=user, personal=user is not None,
                                 key=b"test-deployment-key", tier=tier, prompt_version=1,
                                 toolset_version=1, kb_version=1)


@pytest.fixture
def pgcache(pg_pool, pg_clean):
    from switchyard.cache.pg_backend import PgSemanticCache

    c = PgSemanticCache(pg_pool, CacheSettings())
    yield c
    c.close()


@pytest.fixture
def empty_db(pg_url: str):
    """A database with no switchyard schema at all."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"sy_empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_conninfo(pg_url, dbname=name)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- schema -------------------------------------------------------------------------------------


def test_migrate_is_idempotent_and_safe_from_two_replicas(empty_db: str) -> None:
    from switchyard.cache.pg_backend import PgSemanticCache
    from switchyard.pg.pool import open_pool
    from switchyard.pg.schema import SCHEMA_VERSION, SchemaOutdated, current_version, migrate

    pool = open_pool(empty_db, max_size=1)
    try:
        with pytest.raises(SchemaOutdated, match="switchyard db migrate"):
            PgSemanticCache(pool)
        results: list[tuple[int, int]] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                results.append(migrate(empty_db))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        assert sorted(results) == [(0, SCHEMA_VERSION), (SCHEMA_VERSION, SCHEMA_VERSION)]
        assert migrate(empty_db) == (SCHEMA_VERSION, SCHEMA_VERSION)
        with pool.connection() as conn:
            assert current_version(conn) == SCHEMA_VERSION
            tables = {r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {"sy_cache_entries", "sy_flights", "sy_slots", "checkpoints"} <= tables
        PgSemanticCache(pool).close()  # now it opens
    finally:
        pool.close()


def test_db_migrate_cli(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from switchyard.cli.main import app

    runner = CliRunner()
    monkeypatch.delenv("SWITCHYARD_DATABASE_URL", raising=False)
    out = runner.invoke(app, ["db", "migrate"])
    assert out.exit_code == 2 and "SWITCHYARD_DATABASE_URL" in out.output
    out = runner.invoke(app, ["db", "migrate", "--url", "postgresql://x@127.0.0.1:1/none"])
    assert out.exit_code == 1 and "cannot connect to PostgreSQL at 127.0.0.1:1/none" in out.output
    assert "Traceback" not in out.output
    monkeypatch.setenv("SWITCHYARD_DATABASE_URL", pg_url)
    out = runner.invoke(app, ["db", "migrate"])
    assert out.exit_code == 0 and "up to date" in out.output


# -- search -------------------------------------------------------------------------------------


def test_filtered_hnsw_search_finds_a_small_partition_among_a_large_one(pgcache) -> None:
    from switchyard.cache.pg_backend import EXACT_SCAN_MAX

    rng = np.random.default_rng(7)
    big = EXACT_SCAN_MAX + 200  # large enough for the HNSW branch
    crowd = [(f"public question {i}", unit(rng), part(), ans(f"public question {i}"))
             for i in range(big)]
    assert pgcache.store_many(crowd) == big
    mine = [unit(rng) for _ in range(3)]
    for i, v in enumerate(mine):
        assert pgcache.store(f"alice question {i}", v, part("alice"), ans(f"alice question {i}"))
    for i, v in enumerate(mine):
        near = v + 0.05 * unit(rng)
        verdict = pgcache.lookup(f"alice question {i} please", near / np.linalg.norm(near),
                                 part("alice"))
        assert verdict.hit and verdict.answer.original_text == f"alice question {i}", verdict
    # ... and a large partition is searched through the index, still finding its neighbour.
    q = crowd[1234][1] + 0.05 * unit(rng)
    verdict = pgcache.lookup("public question 1234 please", q / np.linalg.norm(q), part())
    assert verdict.hit and verdict.answer.original_text == "public question 1234"
    assert pgcache.stats()["entries"] == big + 3
    with pgcache.pool.connection() as conn:
        conn.execute("ANALYZE sy_cache_entries")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN (ANALYZE, COSTS off) " + _lookup_sql(),
            {**_sql_params(part()), "q": q.astype(np.float32)}).fetchall())
    # The large partition ran the HNSW branch; the exact branch was never executed.
    hnsw = [line for line in plan.splitlines() if "sy_cache_entries_hnsw" in line]
    assert hnsw and "never executed" not in hnsw[0] and "never executed" in plan, plan
    with pgcache.pool.connection() as conn:
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN (ANALYZE, COSTS off) " + _lookup_sql(),
            {**_sql_params(part("alice")), "q": mine[0]}).fetchall())
    # ... and a small one the exact scan, never the HNSW index.
    hnsw = [line for line in plan.splitlines() if "sy_cache_entries_hnsw" in line]
    assert not hnsw or "never executed" in hnsw[0], plan


def _lookup_sql() -> str:
    from switchyard.cache.pg_backend import _LOOKUP

    return _LOOKUP


def _sql_params(p: Partition) -> dict[str, object]:
    return {"tenant": p.tenant, "scope": p.scope, "tier": p.tier, "versions": p.versions,
            "now": time.time(), "norm": "no such question", "k": 4}


def _partition_counts(pool) -> tuple[dict[tuple[str, ...], int], dict[tuple[str, ...], int]]:
    """(the counts table, the true counts)."""
    with pool.connection() as conn:
        kept = {tuple(r[:4]): r[4] for r in conn.execute("SELECT * FROM sy_cache_partitions")}
        true = {tuple(r[:4]): r[4] for r in conn.execute(
            "SELECT tenant, scope, tier, versions, count(*) FROM sy_cache_entries"
            " GROUP BY 1, 2, 3, 4")}
    return kept, true


def test_partition_counts_follow_every_write(pgcache) -> None:
    rng = np.random.default_rng(3)
    pgcache.hash_key = b"test-deployment-key"
    for i in range(3):
        assert pgcache.store(f"public q {i}", unit(rng), part(), ans(f"public q {i}"))
    for i in range(2):
        assert pgcache.store(f"bob q {i}", unit(rng), part("bob"), ans(f"bob q {i}"))
    assert pgcache.store("public q 1", unit(rng), part(), ans("public q 1"))  # replaces
    assert pgcache.store("soon gone", unit(rng), part(tier="standard"), ans("soon gone", ttl=0.2))
    kept, true = _partition_counts(pgcache.pool)
    assert kept == true and sorted(kept.values()) == [1, 2, 3]
    assert pgcache.clear(user_id="bob") == 2
    time.sleep(0.3)
    assert pgcache.purge() == 1
    kept, true = _partition_counts(pgcache.pool)
    assert kept == true and list(kept.values()) == [3]  # emptied partitions leave no row


def test_migration_2_counts_the_entries_of_a_version_1_database(empty_db: str) -> None:
    import psycopg

    from switchyard.pg import schema
    from switchyard.pg.pool import open_pool

    first = schema.MIGRATIONS[0]
    with psycopg.connect(empty_db, autocommit=True) as conn:  # a database left at version 1
        conn.execute(schema._VERSION_TABLE)
        conn.execute(first.sql)
        conn.execute("INSERT INTO sy_schema (version, description) VALUES (1, 'v1')")
        conn.execute(
            "INSERT INTO sy_cache_entries (tenant, scope, tier, versions, kb_version, norm_text,"
            " text, intent, complexity, created_at, expires_at, nbytes, embedding, answer)"
            " SELECT 'acme', 'public', 'fast', 'p1-t1-kb1', '1', 'q' || i, 'q' || i, 'faq',"
            " 'low', 0, 1e12, 100, array_fill(0.05, ARRAY[384])::vector, '{}'"
            " FROM generate_series(1, 7) i")
    assert schema.migrate(empty_db, checkpoints=False) == (1, schema.SCHEMA_VERSION)
    pool = open_pool(empty_db, max_size=1)
    try:
        kept, true = _partition_counts(pool)
        assert kept == true == {("acme", "public", "fast", "p1-t1-kb1"): 7}
    finally:
        pool.close()


def test_purge_and_expiry_in_every_query(pgcache) -> None:
    rng = np.random.default_rng(1)
    v = unit(rng)
    assert pgcache.store("short lived", v, part(), ans("short lived", ttl=0.3))
    assert pgcache.lookup("short lived", v, part()).hit
    time.sleep(0.4)
    semantic = pgcache.lookup("short lived please", v, part())  # not purged yet, never served
    assert not semantic.hit
    assert pgcache.stats()["expired_pending_purge"] == 1
    assert pgcache.purge() == 1 and len(pgcache) == 0


_WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from switchyard.cache import CachedAnswer, Partition
    from switchyard.cache.pg_backend import PgSemanticCache
    from switchyard.pg.pool import open_pool
    url, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pool = open_pool(url, max_size=1)
    c = PgSemanticCache(pool)
    p = Partition.for_request(tenant="t", user_id=None, personal=False, tier="fast",
                              prompt_version=1, toolset_version=1, kb_version=1)
    rng = np.random.default_rng(abs(hash(prefix)) % 2**32)
    for i in range(n):
        v = rng.standard_normal(384).astype("float32"); v /= np.linalg.norm(v)
        a = CachedAnswer.create(answer=f"{prefix}-{i}", agent="fast", model="m", intent="faq",
                                complexity="low", original_text=f"{prefix} question {i}", ttl_s=600)
        assert c.store(f"{prefix} question {i}", v, p, a)
        # The shared question: both replicas answer it, one row must remain.
        assert c.store("shared question", v, p, a)
    c.close(); pool.close()
    """
)


def test_replicas_write_at_once_totals_stay_exact(pg_url: str, pgcache) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, pg_url, name, "120"], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for name in ("alpha", "beta")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()[-2000:]
    p = Partition.for_request(tenant="t", user_id=None, personal=False, tier="fast",
                              prompt_version=1, toolset_version=1, kb_version=1)
    v = pgcache.lookup("beta question 7", np.zeros(384, np.float32) + 0.05, p)
    assert v.hit and v.answer.answer == "beta-7"
    assert len(pgcache) == 241
    with pgcache.pool.connection() as conn:
        n, nbytes = conn.execute("SELECT count(*), sum(nbytes) FROM sy_cache_entries").fetchone()
        assert conn.execute("SELECT n, bytes FROM sy_cache_totals").fetchone() == (n, nbytes)
    kept, true = _partition_counts(pgcache.pool)
    assert kept == true
    assert pgcache.stats()["counters"]["stores"] == 480


def test_pool_sessions_are_configured_for_filtered_hnsw(pg_url: str) -> None:
    from switchyard.pg.pool import DatabaseUnavailable, open_pool

    with pytest.raises(ValueError, match="ef_search"):
        open_pool(pg_url, ef_search=0)
    with pytest.raises(DatabaseUnavailable, match="cannot connect"):
        open_pool("postgresql://nobody@127.0.0.1:1/none")
    pool = open_pool(pg_url, max_size=1, ef_search=77)
    try:
        with pool.connection() as conn:
            assert conn.execute("SHOW hnsw.iterative_scan").fetchone()[0] == "relaxed_order"
            assert conn.execute("SHOW hnsw.ef_search").fetchone()[0] == "77"
            assert conn.execute("SHOW plan_cache_mode").fetchone()[0] == "force_custom_plan"
    finally:
        pool.close()


def test_a_long_question_in_a_non_latin_script_is_stored_and_found(pgcache) -> None:
    # ~1,200 random CJK characters (3.6 kB, incompressible) once failed the insert: the exact
    # key indexed the text itself, and a btree entry holds at most 2,704 bytes.
    rng = np.random.default_rng(11)
    text = "how do I reset my password " + "".join(
        chr(int(c)) for c in rng.integers(0x4E00, 0x9FFF, 1200))
    vec = unit(rng)
    assert pgcache.store(text, vec, part(), ans(text))
    found = pgcache.lookup(text, vec, part())
    assert found.hit and found.match == "exact" and found.answer.answer == f"answer to {text}"
    # Same key, newer answer: replaced, not duplicated.
    assert pgcache.store(text, vec, part(), ans(text, ttl=900))
    kept, _ = _partition_counts(pgcache.pool)
    assert list(kept.values()) == [1]


def test_cache_cli_acts_on_the_shared_cache_when_a_database_url_is_set(
        pg_url: str, pg_clean, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`cache stats` and `cache clear` report and clear the deployment's cache: with
    SWITCHYARD_DATABASE_URL that is PostgreSQL, never the home's embedded file."""
    import json

    from psycopg.conninfo import conninfo_to_dict

    from switchyard.app import Switchyard
    from switchyard.cache.faiss_backend import FaissSemanticCache
    from switchyard.cache.pg_backend import PgSemanticCache
    from switchyard.cli.main import app
    from switchyard.core.settings import Settings

    monkeypatch.setenv("SWITCHYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SWITCHYARD_DATABASE_URL", pg_url)
    settings = Settings()
    rng = np.random.default_rng(7)
    # The home's embedded cache holds an entry too: the commands must not look at it.
    embedded = FaissSemanticCache(settings.cache_dir / "cache.sqlite", settings.cache)
    embedded.store("embedded only", unit(rng), part(), ans("embedded only"))
    embedded.close()
    with Switchyard(settings) as sy:
        assert isinstance(sy.cache, PgSemanticCache)
        for i in range(3):
            sy.cache.store(f"shared {i}", unit(rng), part(), ans(f"shared {i}"))
        sy.cache.store("mine", unit(rng), part("u-0001"), ans("mine"))

    runner = CliRunner()
    out = runner.invoke(app, ["cache", "stats", "--json"])
    assert out.exit_code == 0, out.output
    stats = json.loads(out.output)
    assert stats["entries"] == 4 and stats["public"]["entries"] == 3
    assert conninfo_to_dict(pg_url)["dbname"] in stats["path"]
    out = runner.invoke(app, ["cache", "clear", "--tenant", "acme"])
    assert out.exit_code == 0 and "cleared 4 entries" in out.output, out.output
    assert json.loads(runner.invoke(app, ["cache", "stats", "--json"]).output)["entries"] == 0
    untouched = FaissSemanticCache(settings.cache_dir / "cache.sqlite", settings.cache)
    assert untouched.stats()["entries"] == 1
    untouched.close()
