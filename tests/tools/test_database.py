"""The bundled pack's customer database seed: deterministic, idempotent, big enough, consistent
with its product sheet (the directory's own seed and a pack without one: test_account_directory.py)."""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest
from support.bundled_accounts import accounts_seed, product, seed_module

from switchyard.tools import database
from switchyard.tools.database import connect, seed

PRODUCT = product()
SEED = accounts_seed()
AS_OF = seed_module().AS_OF


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory: pytest.TempPathFactory) -> tuple[database.SeedResult, database.SeedResult]:
    a = seed(tmp_path_factory.mktemp("seed-a") / "customers.sqlite", SEED)
    b = seed(tmp_path_factory.mktemp("seed-b") / "customers.sqlite", SEED)
    return a, b


def test_seed_is_deterministic(two_seeds) -> None:
    a, b = two_seeds
    assert not a.skipped and not b.skipped
    assert a.content_hash == b.content_hash
    assert a.counts == b.counts
    # The stored hash is recomputable from the data itself.
    with connect(a.path) as conn:
        assert database.content_hash(conn) == a.content_hash


def test_seed_is_fast(two_seeds) -> None:
    assert two_seeds[0].seconds < 20


def test_row_count_minimums(two_seeds) -> None:
    counts = two_seeds[0].counts
    assert counts["organizations"] >= 200
    assert counts["users"] >= 2000
    assert counts["invoices"] >= 200 * 12
    assert counts["usage_daily"] >= 200 * 365
    for table in ("subscriptions", "plan_changes", "invoice_lines", "payments", "api_errors",
                  "support_tickets"):
        assert counts[table] > 0, table


def test_seed_is_idempotent_and_force_rebuilds_atomically(tmp_path: Path) -> None:
    path = tmp_path / "customers.sqlite"
    first = seed(path, SEED)
    mtime = path.stat().st_mtime_ns
    again = seed(path, SEED)
    assert again.skipped and again.content_hash == first.content_hash
    assert path.stat().st_mtime_ns == mtime
    # A runtime write (verification) survives --force (issue 15), and the data hash is unchanged.
    with connect(read_only=False, path=path) as conn:
        conn.execute("INSERT INTO identity_verifications (user_id, method, verified_at, expires_at) "
                     "VALUES ('u-0001', 'session', '2026-01-01T00:00:00', '2026-01-01T00:15:00')")
    forced = seed(path, SEED, force=True)
    assert not forced.skipped and forced.content_hash == first.content_hash
    with connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM identity_verifications").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_read_only_connection_refuses_writes(two_seeds) -> None:
    with connect(two_seeds[0].path) as conn, pytest.raises(sqlite3.OperationalError):
        conn.execute("DELETE FROM users")


def test_invoices_follow_the_price_sheet(two_seeds) -> None:
    plans = PRODUCT["plans"]
    with connect(two_seeds[0].path) as conn:
        bad_sums = conn.execute(
            "SELECT i.number FROM invoices i JOIN invoice_lines l ON l.invoice_number = i.number "
            "WHERE l.kind != 'tax' GROUP BY i.number HAVING ABS(SUM(l.amount) - i.subtotal) > 0.011"
        ).fetchall()
        assert bad_sums == []
        assert conn.execute("SELECT COUNT(*) FROM invoices WHERE ABS(subtotal + tax - total) > 0.011"
                            ).fetchone()[0] == 0
        # Monthly seat lines charge exactly the plan's list price per seat.
        rows = conn.execute(
            "SELECT o.plan AS plan_now, l.unit_price, l.description FROM invoice_lines l "
            "JOIN invoices i ON i.number = l.invoice_number JOIN organizations o ON o.id = i.org_id "
            "WHERE l.kind = 'seats' AND o.billing_cycle = 'monthly'"
        ).fetchall()
        prices = {p["price_per_user_month"] for p in plans.values()}
        assert rows and all(r["unit_price"] in prices for r in rows)
        numbers = [r[0] for r in conn.execute("SELECT number FROM invoices ORDER BY number")]
        assert numbers[0] == 1001 and numbers == list(range(1001, 1001 + len(numbers)))
        failed = conn.execute("SELECT COUNT(*) FROM payments WHERE status = 'failed' "
                              "AND error_code = 'BILL-402'").fetchone()[0]
        assert failed > 0
        assert conn.execute("SELECT COUNT(DISTINCT org_id) FROM invoices WHERE status != 'paid'"
                            ).fetchone()[0] >= 5
        codes = {r[0] for r in conn.execute("SELECT DISTINCT error_code FROM api_errors")}
        assert codes <= set(PRODUCT["error_codes"]) and "WH-401" in codes


def test_demo_user_has_an_interesting_account(two_seeds) -> None:
    with connect(two_seeds[0].path) as conn:
        user = conn.execute("SELECT * FROM users WHERE id = 'u-0001'").fetchone()
        assert user["role"] == "admin" and user["status"] == "active"
        org = user["org_id"]
        balance = conn.execute("SELECT SUM(total - amount_paid) FROM invoices WHERE org_id = ? "
                               "AND status != 'paid'", (org,)).fetchone()[0]
        assert balance and balance > 0
        assert conn.execute("SELECT COUNT(*) FROM invoices WHERE org_id = ?", (org,)).fetchone()[0] == 24
        recent_wh401 = conn.execute(
            "SELECT COUNT(*) FROM api_errors WHERE org_id = ? AND error_code = 'WH-401' "
            "AND occurred_at > ?", (org, (AS_OF - timedelta(days=7)).isoformat()),
        ).fetchone()[0]
        assert recent_wh401 >= 20
        over_quota = conn.execute(
            "SELECT COUNT(*) FROM invoice_lines l JOIN invoices i ON i.number = l.invoice_number "
            "WHERE i.org_id = ? AND l.kind = 'overage'", (org,),
        ).fetchone()[0]
        assert over_quota >= 2


def test_db_cli_seed_and_info(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from switchyard.cli.main import app

    monkeypatch.setenv("SWITCHYARD_HOME", str(tmp_path))
    runner = CliRunner()
    started = time.perf_counter()
    out = runner.invoke(app, ["db", "seed"])
    assert out.exit_code == 0, out.output
    assert "Seeded" in out.output and time.perf_counter() - started < 30
    out = runner.invoke(app, ["db", "seed"])
    assert out.exit_code == 0 and "up to date" in out.output
    out = runner.invoke(app, ["db", "info"])
    assert out.exit_code == 0 and "u-0001" in out.output and "content_hash" in out.output
