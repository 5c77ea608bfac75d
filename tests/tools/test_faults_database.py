"""Fault injection on the customer database: re-seeds, read errors, read-only homes, kill -9.

Nothing acknowledged may be lost: runtime rows (password resets, identity verifications)
survive a re-seed and a crashed one, a read error is reported and never "repaired" by seeding
over the file, and a killed seed leaves no temporary files behind after the next start.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from pathlib import Path

import pytest
from support.bundled_accounts import accounts_seed, product
from support.faultkit import kill_at, read_only
from typer.testing import CliRunner

from switchyard.tools import database as db

PRODUCT = product()
SEED = accounts_seed()

pytestmark = pytest.mark.integration

RESETS, VERIFICATIONS = 234, 290


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seeded") / "customers.sqlite"
    db.seed(path, SEED)
    return path


@pytest.fixture
def home(seeded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private SWITCHYARD_HOME holding a copy of the seeded database plus runtime rows."""
    shutil.copy(seeded, tmp_path / "customers.sqlite")
    _add_runtime_rows(tmp_path / "customers.sqlite")
    monkeypatch.setenv("SWITCHYARD_HOME", str(tmp_path))
    return tmp_path


def _accounts(home: Path) -> db.CustomerDatabase:
    return db.CustomerDatabase(home / "customers.sqlite", PRODUCT, SEED)


def _add_runtime_rows(path: Path) -> None:
    with db.connect(path, read_only=False) as conn:
        conn.executemany(
            "INSERT INTO password_resets (user_id, requested_at, expires_at, token_sha256, sent_to)"
            " VALUES (?, '2026-11-30T10:00:00', '2026-11-30T10:30:00', ?, 'a@b.example')",
            [(f"u-{i % 50 + 1:04d}", f"{i:064x}") for i in range(RESETS)])
        conn.executemany(
            "INSERT INTO identity_verifications (user_id, method, verified_at, expires_at) "
            "VALUES (?, 'session', '2026-11-30T10:00:00', '2026-11-30T10:15:00')",
            [(f"u-{i % 50 + 1:04d}",) for i in range(VERIFICATIONS)])


def _runtime_counts(path: Path) -> tuple[int, int]:
    with db.connect(path) as conn:
        return (conn.execute("SELECT COUNT(*) FROM password_resets").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM identity_verifications").fetchone()[0])


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def _cli(*args: str) -> object:
    from switchyard.cli.main import app

    return CliRunner().invoke(app, list(args))


# -- re-seed keeps runtime state -------------------------------------------------------------


def test_forced_reseed_keeps_password_resets_and_verifications(home: Path) -> None:
    path = home / "customers.sqlite"
    before = db.read_meta(path)["content_hash"]
    out = _cli("db", "seed", "--force")
    assert out.exit_code == 0, out.output
    assert _runtime_counts(path) == (RESETS, VERIFICATIONS)
    assert db.read_meta(path)["content_hash"] == before
    assert _integrity(path) == "ok"
    assert "kept" in out.output and str(RESETS) in out.output


def test_reseed_after_a_generator_change_keeps_runtime_rows(home: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = home / "customers.sqlite"
    changed = dataclasses.replace(SEED, version=f"{SEED.version}-next")  # a new generator
    result = db.seed(path, changed)  # outdated seed version: rebuilt without --force
    assert not result.skipped
    assert result.kept_runtime_rows == {"identity_verifications": VERIFICATIONS,
                                        "password_resets": RESETS}
    assert _runtime_counts(path) == (RESETS, VERIFICATIONS)


# -- a read error is reported, never a reason to re-seed -------------------------------------


def test_unreadable_database_is_reported_and_left_untouched(home: Path) -> None:
    path = home / "customers.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 100)
    before = path.read_bytes()
    with pytest.raises(db.DatabaseUnreadableError, match="cannot be read"):
        db.seed(path, SEED)
    assert path.read_bytes() == before
    info = _cli("db", "info")
    assert info.exit_code != 0 and "cannot be read" in info.output
    assert "No customer database" not in info.output and "Traceback" not in info.output


def test_force_on_an_unreadable_database_sets_it_aside(home: Path) -> None:
    path = home / "customers.sqlite"
    path.write_bytes(b"garbage" * 100)
    db.seed(path, SEED, force=True)
    assert _integrity(path) == "ok"
    aside = list(home.glob("customers.sqlite.unreadable-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == b"garbage" * 100


def test_read_only_home_reads_without_reseeding(home: Path) -> None:
    path = home / "customers.sqlite"
    db.seed(path, SEED)  # settle: WAL folded, nothing pending
    meta = db.read_meta(path)
    with read_only(home):
        assert db.read_meta(path) == meta  # -shm cannot be created: immutable read instead
        result = db.seed(path, SEED)
        assert result.skipped
        assert _runtime_counts(path) == (RESETS, VERIFICATIONS)
        accounts = _accounts(home)
        assert accounts.user_exists("u-0001") and not accounts.user_exists("u-9999999")
        info = _cli("db", "info")
        assert info.exit_code == 0, info.output
        assert "No customer database" not in info.output and "u-0001" in info.output
        forced = _cli("db", "seed", "--force")
        assert forced.exit_code == 1 and "read-only" in forced.output
        assert "Traceback" not in forced.output


# -- kill -9 in the middle of a seed -------------------------------------------------------

_KILL_IN_FILL = """
import os, sys, time
from pathlib import Path
from switchyard.tools import database as db
original = db._fill
def fill(conn, data, version, spec):
    result = original(conn, data, version, spec)
    Path({marker!r}).touch()   # the data tables are replaced, the transaction is not committed
    time.sleep(600)
    return result
db._fill = fill
from switchyard.core.settings import Settings
db.seed(Path({path!r}), db.CustomerDatabase.for_settings(Settings()).accounts_seed, force={force})
"""


def test_kill_during_reseed_rolls_back_and_loses_nothing(home: Path, tmp_path: Path) -> None:
    path = home / "customers.sqlite"
    before = db.read_meta(path)
    marker = tmp_path / "in-transaction"
    kill_at(_KILL_IN_FILL.format(marker=str(marker), path=str(path), force=True), marker)
    assert _integrity(path) == "ok"
    assert _runtime_counts(path) == (RESETS, VERIFICATIONS)
    assert db.read_meta(path) == before
    with db.connect(path) as conn:
        assert db.content_hash(conn) == before["content_hash"]
    assert db.seed(path, SEED).skipped


def test_kill_during_first_seed_leaves_no_orphans_after_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "home" / "customers.sqlite"
    path.parent.mkdir()
    marker = tmp_path / "in-fresh-build"
    kill_at(_KILL_IN_FILL.format(marker=str(marker), path=str(path), force=False), marker)
    orphans = list(path.parent.glob(".customers.sqlite.*.tmp*"))
    assert orphans and not path.exists()  # the crash left its temporary file, nothing else
    db.seed(path, SEED)
    assert list(path.parent.glob(".customers.sqlite.*.tmp*")) == []
    assert _integrity(path) == "ok"


def test_orphans_are_removed_even_when_the_database_is_up_to_date(home: Path) -> None:
    orphan = home / ".customers.sqlite.4242.1.tmp"
    orphan.write_bytes(b"x" * 1000)
    Path(f"{orphan}-wal").write_bytes(b"x")
    assert db.seed(home / "customers.sqlite", SEED).skipped
    assert not orphan.exists() and not Path(f"{orphan}-wal").exists()


# -- users that do not exist -----------------------------------------------------------------


def test_user_lookup(home: Path) -> None:
    accounts = _accounts(home)
    assert accounts.user_exists("u-0001")
    assert not accounts.user_exists("u-9999999") and not accounts.user_exists("")
    assert not accounts.user_exists(None)
    assert accounts.require_user("u-0002") == "u-0002"
    with pytest.raises(db.UnknownUserError, match="unknown user id 'u-9999999'"):
        accounts.require_user("u-9999999")
    with pytest.raises(db.UnknownUserError, match="empty user id"):
        accounts.require_user("")


@pytest.mark.parametrize(("user", "expected"), [("u-9999999", "unknown user id"),
                                                ("", "empty user id"), ("  ", "empty user id")])
def test_ask_refuses_unknown_users_before_running(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                  user: str, expected: str) -> None:
    from switchyard.app import Switchyard

    calls: list[dict] = []

    def opened(cls: type[Switchyard], settings: object = None, **kw: object) -> Switchyard:
        # No set-up and no models: only what the user check needs; asking is recorded.
        sy = Switchyard(settings)
        sy.ask = lambda text, **kw: calls.append(kw)  # type: ignore[method-assign]
        return sy

    monkeypatch.setattr(Switchyard, "open", classmethod(opened))
    out = _cli("ask", "What's my account balance?", "--user", user, "--json")
    assert out.exit_code == 2 and expected in out.output
    assert calls == []  # never routed, so nothing answered or cached for a non-user
