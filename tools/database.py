"""The customer database: switchyard's account directory, its connections and its seed.

Every pack gets a directory of **organizations** and **users** (who may sign in, their status,
role and organization: what authentication, the health checks, ``switchyard db`` and the tools'
injected ``accounts`` read) and two **runtime tables** written as people use the tools
(``identity_verifications``, ``password_resets``). What else the database holds is the active
domain pack's: a pack that declares ``[accounts] seed = "module:function"`` in its manifest gets
that function's :class:`AccountSeed` (its own tables, extra organization columns, its rows); a
pack without one gets :func:`directory_seed`, a small deterministic directory of demo
organizations and users with neutral names (``u-0001``, ``u-0002``, ... all able to sign in).

Seeding is deterministic and versioned: a database whose seed version matches is left alone,
a new one is written to a temporary file and renamed into place, and a re-seed replaces only the
data tables in one transaction, never the runtime tables. :class:`CustomerDatabase` is the one
object the rest of switchyard holds: the front door builds it, the graph's tool node hands it to
every tool call (with the pack's product sheet, ``product``, for the pack's tools).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from switchyard.core.pack import DomainPack
    from switchyard.core.settings import Settings

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

# Runtime tables are excluded from the content hash: they change as people use the tools.
RUNTIME_TABLES = ("identity_verifications", "password_resets")

# The directory every pack gets. A pack's seed may define ``organizations`` or ``users`` itself
# (to add columns) as long as it keeps the columns in REQUIRED_COLUMNS.
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE organizations (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, domain TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL, status TEXT NOT NULL
);
CREATE TABLE users (
    id TEXT PRIMARY KEY, org_id INTEGER NOT NULL REFERENCES organizations(id),
    email TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    mfa_enabled INTEGER NOT NULL, status TEXT NOT NULL, failed_logins INTEGER NOT NULL,
    created TEXT NOT NULL, last_login TEXT
);
CREATE INDEX users_org ON users(org_id);
CREATE TABLE identity_verifications (
    id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, method TEXT NOT NULL,
    verified_at TEXT NOT NULL, expires_at TEXT NOT NULL
);
CREATE INDEX identity_verifications_user ON identity_verifications(user_id, expires_at);
CREATE TABLE password_resets (
    id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, requested_at TEXT NOT NULL,
    expires_at TEXT NOT NULL, token_sha256 TEXT NOT NULL, sent_to TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX password_resets_user ON password_resets(user_id, requested_at);
"""

DIRECTORY_TABLES = ("organizations", "users")
# What authentication and the tools' caller lookup read (tools/auth.py, CustomerDatabase).
REQUIRED_COLUMNS: dict[str, frozenset[str]] = {
    "organizations": frozenset({"id", "name", "status"}),
    "users": frozenset({"id", "org_id", "email", "name", "role", "status"}),
}


class DatabaseError(RuntimeError):
    """The customer database is missing or unusable."""


class DatabaseUnreadableError(DatabaseError):
    """The database file exists but cannot be read. Never a reason to re-seed over it: the file
    may hold the only copy of the runtime tables (verifications, resets)."""


class UnknownUserError(LookupError):
    """A user id that names no account in the customer database (or an empty one)."""

    def __init__(self, user_id: str | None) -> None:
        self.user_id = user_id or ""
        if not self.user_id.strip():
            message = "no user id given: an empty user id is not a signed-in user"
        else:
            message = f"unknown user id {self.user_id!r}: no {_product()} account has this id"
        super().__init__(message)


def _product() -> str:
    from switchyard.core.domain import product_name

    return product_name()


# --------------------------------------------------------------------------------------------
# What a seed writes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountSeed:
    """What the customer database is seeded with: the directory's rows and a pack's own.

    ``version``: what the rows depend on (generator, random seed, facts), cheap to compute; a
    database with the same version is not rebuilt. ``schema``: ``CREATE TABLE`` / ``CREATE
    INDEX`` statements for the pack's tables; defining ``organizations`` or ``users`` replaces
    the directory's definition (keep :data:`REQUIRED_COLUMNS`). ``generate()``: every data
    table's rows, ``{table: [row tuples in column order]}``, ``organizations`` and ``users``
    first (the content hash follows this order). ``meta``: extra rows for the meta table
    (``demo_user_id`` defaults to ``u-0001``). ``headline``: the tables a person is told about.
    ``source``: where the seed comes from, for error messages.
    """

    version: str
    generate: Callable[[], dict[str, list[tuple[Any, ...]]]]
    schema: str = ""
    meta: Mapping[str, str] = field(default_factory=dict)
    headline: tuple[str, ...] = DIRECTORY_TABLES
    source: str = "the account directory"


# The directory's own seed (packs without ``[accounts] seed``): neutral demo names.
DIRECTORY_SEED_VERSION = "directory1"
DIRECTORY_ORGS = 20
DIRECTORY_USERS_PER_ORG = 10
DIRECTORY_CREATED = date(2026, 1, 5)


def directory_seed() -> AccountSeed:
    """The generic directory: ``DIRECTORY_ORGS`` demo organizations of
    ``DIRECTORY_USERS_PER_ORG`` users each, ``u-0001``, ``u-0002``, ... in order. The first
    organization's users are all active (``u-0001`` is its admin); in each other organization
    the last user is invited (not yet signed in) and the one before is locked."""
    return AccountSeed(version=DIRECTORY_SEED_VERSION, generate=_directory_rows,
                       meta={"demo_user_id": "u-0001", "demo_org_id": "1"})


def _directory_rows() -> dict[str, list[tuple[Any, ...]]]:
    orgs: list[tuple[Any, ...]] = []
    users: list[tuple[Any, ...]] = []
    seq = 1
    for org_id in range(1, DIRECTORY_ORGS + 1):
        created = DIRECTORY_CREATED + timedelta(days=org_id - 1)
        domain = f"org{org_id:02d}.example"
        orgs.append((org_id, f"Demo Organization {org_id:02d}", domain, created.isoformat(),
                     "active"))
        for k in range(DIRECTORY_USERS_PER_ORG):
            uid = f"u-{seq:04d}"
            role = "admin" if k == 0 else ("editor" if k % 2 else "viewer")
            status = "active"
            if org_id > 1 and k == DIRECTORY_USERS_PER_ORG - 1:
                status = "invited"
            elif org_id > 1 and k == DIRECTORY_USERS_PER_ORG - 2:
                status = "locked"
            last_login = None if status == "invited" else f"{created.isoformat()}T09:00:00"
            users.append((uid, org_id, f"user{seq:04d}@{domain}", f"Demo User {seq:04d}", role,
                          1 if role == "admin" else 0, status, 5 if status == "locked" else 0,
                          created.isoformat(), last_login))
            seq += 1
    return {"organizations": orgs, "users": users}


def pack_seed(pack: DomainPack, product: dict[str, Any]) -> AccountSeed:
    """The seed a pack declares (``[accounts] seed``, called with the product sheet), else the
    generic directory's. A hook that cannot be imported, raises or returns something else is a
    ``PackError`` naming the manifest, the key and the fix."""
    from switchyard.tools.registry import manifest_key_error, resolve_account_seed

    hook = resolve_account_seed(pack)
    if hook is None:
        return directory_seed()
    key, ref = "accounts.seed", pack.manifest.accounts.seed
    try:
        made = hook(product)
    except Exception as exc:
        raise manifest_key_error(pack, key, f"{ref} raised {type(exc).__name__}: {exc}",
                                 "that function (it is called with the product sheet, a dict)"
                                 ) from exc
    if not isinstance(made, AccountSeed):
        raise manifest_key_error(pack, key, f"{ref} returned a {type(made).__name__}, not an "
                                 "AccountSeed", "return switchyard.tools.database.AccountSeed(...)")
    return AccountSeed(made.version, made.generate, made.schema, dict(made.meta), made.headline,
                       source=f"{pack.manifest_path}: key {key}")


# --------------------------------------------------------------------------------------------
# Connections
# --------------------------------------------------------------------------------------------

_seed_lock = threading.Lock()


def load_product(path: Path | None) -> dict[str, Any]:
    """A pack's product fact sheet (JSON: plans, prices, ...); ``{}`` when it has none."""
    if path is None:
        return {}
    return json.loads(Path(path).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class CustomerDatabase:
    """The customer database one graph uses, with the pack's product facts and seed.

    Built once by the front door and injected: the graph's tool node passes it to every tool
    call (the tools' hidden ``accounts`` argument), so two graphs with different databases can
    share a process.
    """

    path: Path
    product: dict[str, Any] = field(default_factory=dict, repr=False, hash=False, compare=False)
    accounts_seed: AccountSeed = field(default_factory=directory_seed, repr=False, hash=False,
                                       compare=False)

    @classmethod
    def for_settings(cls, settings: Settings) -> CustomerDatabase:
        """The database at ``settings.db_path``, seeded as ``settings.pack`` declares."""
        product = load_product(settings.product_path)
        return cls(Path(settings.db_path), product, pack_seed(settings.pack, product))

    @contextlib.contextmanager
    def connect(self, read_only: bool = True) -> Iterator[sqlite3.Connection]:
        """A short-lived connection; seeds the database first if it is missing."""
        self.ensure_seeded()
        with connect(self.path, read_only=read_only) as conn:
            yield conn

    def ensure_seeded(self) -> None:
        if not self.path.exists():
            seed(self.path, self.accounts_seed)

    def seed(self, force: bool = False) -> SeedResult:
        return seed(self.path, self.accounts_seed, force=force)

    def seed_version(self) -> str:
        return seed_version(self.accounts_seed)

    def user_status(self, user_id: str) -> str | None:
        """The user's status ('active', 'locked', ...), or None when no such user exists."""
        with self.connect() as conn:
            row = conn.execute("SELECT status FROM users WHERE id = ?", (user_id,)).fetchone()
        return None if row is None else str(row["status"])

    def user_account(self, user_id: str) -> tuple[str, int] | None:
        """(status, organization id) of the user, or None when no such user exists: who a
        verified token names, and which organization (the default tenant) they belong to."""
        with self.connect() as conn:
            row = conn.execute("SELECT status, org_id FROM users WHERE id = ?",
                               (user_id,)).fetchone()
        return None if row is None else (str(row["status"]), int(row["org_id"]))

    def user_exists(self, user_id: str | None) -> bool:
        """Whether ``user_id`` names an account (any status)."""
        if not isinstance(user_id, str) or not user_id.strip():
            return False
        return self.user_status(user_id) is not None

    def require_user(self, user_id: str | None) -> str:
        """``user_id`` if it names an account, else ``UnknownUserError`` (also for ``""``)."""
        if not self.user_exists(user_id):
            raise UnknownUserError(user_id)
        assert user_id is not None
        return user_id

    def read_meta(self) -> dict[str, str]:
        return read_meta(self.path)


def _open_read_only(target: Path) -> sqlite3.Connection:
    # Falls back to immutable=1 on a read-only home, where the WAL's -shm cannot be created.
    from switchyard.core.storage import open_sqlite_read_only

    return open_sqlite_read_only(target)


@contextlib.contextmanager
def connect(path: Path, read_only: bool = True) -> Iterator[sqlite3.Connection]:
    """A short-lived connection (one per tool call: SQLite connections are cheap and this
    keeps tools thread-safe under ToolNode's executor). Commits on success for read-write
    connections, rolls back on error."""
    target = Path(path)
    if not target.exists():
        raise DatabaseError(f"the customer database {target} does not exist; run "
                            "`switchyard setup` (or `switchyard db seed`)")
    conn = _open_read_only(target) if read_only else sqlite3.connect(target, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        yield conn
        if not read_only:
            conn.commit()
    except BaseException:
        if not read_only:
            conn.rollback()
        raise
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# Seed
# --------------------------------------------------------------------------------------------


@dataclass
class SeedResult:
    path: Path
    skipped: bool
    seconds: float
    counts: dict[str, int]
    content_hash: str
    # Rows of the runtime tables carried over from the previous database.
    kept_runtime_rows: dict[str, int] | None = None
    # The tables a person is told about (the seed's ``headline``).
    headline: tuple[str, ...] = DIRECTORY_TABLES

    def summary(self) -> str:
        """One line for a person: what the database holds and whether it was (re)built."""
        what = ", ".join(f"{self.counts.get(t, 0):,} {t.replace('_', ' ')}" for t in self.headline)
        done = "already current" if self.skipped else f"seeded in {self.seconds:.1f} s"
        return f"{what} ({done})"


def seed_version(accounts_seed: AccountSeed) -> str:
    """What the data depends on: the directory's schema and the seed's own version."""
    return f"schema{SCHEMA_VERSION}-{accounts_seed.version}"


def read_meta(path: Path) -> dict[str, str]:
    """The database's meta table; ``{}`` only when there is no database file.

    Anything else that goes wrong (not a database, no meta table, an I/O error) raises
    ``DatabaseUnreadableError``: a read failure is reported, never treated as "not seeded"."""
    target = Path(path)
    if not target.exists():
        return {}
    try:
        conn = _open_read_only(target)
        try:
            return {k: v for k, v in conn.execute("SELECT key, value FROM meta")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise DatabaseUnreadableError(
            f"the customer database at {target} cannot be read ({exc}); it was left untouched. "
            "Check the file and its permissions, or move it away and run `switchyard db seed`."
        ) from exc


def _tmp_prefix(target: Path) -> str:
    return f".{target.name}."


@contextlib.contextmanager
def _file_lock(target: Path, blocking: bool = True) -> Iterator[bool]:
    """Serialize seeds across processes; yields False if ``blocking`` is off and it is held."""
    lock_path = target.with_name(f".{target.name}.lock")
    with lock_path.open("a") as fh:
        flags = fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(fh, flags)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def remove_orphans(target: Path) -> list[Path]:
    """Delete temporary files left by a seed that was killed. Call with the seed lock held:
    every live seed holds it while its temporary file exists, so any found now is an orphan."""
    removed = []
    for leftover in target.parent.glob(f"{_tmp_prefix(target)}*.tmp*"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
            removed.append(leftover)
    if removed:
        log.warning("removed %d temporary file(s) left by an interrupted seed", len(removed))
    return removed


def _clean_orphans_quietly(target: Path) -> None:
    """Opportunistic clean-up on the up-to-date path; skipped when another seed runs or the
    home is read-only (nothing could have been left there by us then)."""
    if not any(target.parent.glob(f"{_tmp_prefix(target)}*.tmp*")):
        return
    try:
        with _file_lock(target, blocking=False) as locked:
            if locked:
                remove_orphans(target)
    except OSError as exc:
        log.warning("could not remove temporary seed files: %s", exc)


def seed(path: Path, accounts_seed: AccountSeed | None = None, force: bool = False
         ) -> SeedResult:
    """Build the database from ``accounts_seed`` (default: the generic directory) unless one
    with the same seed version exists (or ``force``).

    - No database yet: written to a temporary file and renamed into place, so readers never see
      a half-built database.
    - A database exists: re-seeded **in place**, in one transaction that drops every data table
      (also a previous pack's) and refills them. The runtime tables (identity verifications,
      password resets) are never touched, readers see the old data until the commit, a runtime
      write waits for the lock instead of landing in a file about to be replaced, and a crash
      rolls back to the old data.
    - An unreadable database is reported (``DatabaseUnreadableError``), never re-seeded over;
      with ``force`` it is moved aside (``.unreadable-<time>``) and a fresh one is built.
    """
    spec = accounts_seed or directory_seed()
    target = Path(path)
    started = time.perf_counter()
    version = seed_version(spec)
    meta = _meta_for_seed(target, force)
    if not force and meta and meta.get("seed_version") == version:
        _clean_orphans_quietly(target)
        return SeedResult(target, True, time.perf_counter() - started,
                          json.loads(meta["row_counts"]), meta["content_hash"],
                          headline=spec.headline)
    statements = schema_statements(spec)  # checked before anything is written
    target.parent.mkdir(parents=True, exist_ok=True)
    with _seed_lock, _file_lock(target):
        remove_orphans(target)
        meta = _meta_for_seed(target, force)  # another process may have seeded meanwhile
        if not force and meta and meta.get("seed_version") == version:
            return SeedResult(target, True, time.perf_counter() - started,
                              json.loads(meta["row_counts"]), meta["content_hash"],
                              headline=spec.headline)
        data = _generated(spec)
        kept = None
        if meta is not None and target.exists():
            counts, digest, kept = _reseed_in_place(target, statements, data, version, spec)
        else:
            if target.exists():
                _set_aside(target)
            counts, digest = _build_fresh(target, statements, data, version, spec)
    return SeedResult(target, False, time.perf_counter() - started, counts, digest, kept,
                      headline=spec.headline)


def _generated(spec: AccountSeed) -> dict[str, list[tuple[Any, ...]]]:
    data = spec.generate()
    tables = list(data)
    if tables[:2] != list(DIRECTORY_TABLES) or any(t in RUNTIME_TABLES or t == "meta"
                                                   for t in tables):
        raise DatabaseError(f"{spec.source}: the seed's tables are {tables}; fix: return "
                            "organizations and users first, then the pack's own tables (not "
                            f"meta or the runtime tables {list(RUNTIME_TABLES)})")
    return data


_CREATE = re.compile(r"^CREATE\s+(?:TABLE|(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?\w+\s+ON)"
                     r"\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.I)


def schema_statements(spec: AccountSeed) -> list[str]:
    """The directory's schema with the seed's tables (a seed's ``organizations`` or ``users``
    replaces the directory's, with its indexes), as idempotent statements (no executescript
    inside a transaction: it would commit it). Checked in a scratch in-memory database first:
    bad SQL or a redefined directory table missing a required column is a ``DatabaseError``
    naming the seed."""
    own = _split(spec.schema)
    own_tables = {m.group(1).lower() for s in own if (m := _CREATE.match(s))
                  and re.match(r"CREATE\s+TABLE\b", s, re.I)}
    bad = own_tables & {"meta", *RUNTIME_TABLES}
    if bad:
        raise DatabaseError(f"{spec.source}: the schema redefines {sorted(bad)}; fix: leave "
                            "meta and the runtime tables to the account directory")
    base = [s for s in _split(SCHEMA)
            if not ((m := _CREATE.match(s)) and m.group(1).lower() in own_tables)]
    out = []
    for stmt in (*base, *own):
        if not re.match(r"^CREATE\s+(?:UNIQUE\s+)?(?:TABLE|INDEX)\s+IF\s+NOT\s+EXISTS\b", stmt,
                        re.I):
            stmt = re.sub(r"^CREATE\s+(UNIQUE\s+)?(TABLE|INDEX)\s+", r"CREATE \1\2 IF NOT EXISTS ",
                          stmt, count=1, flags=re.I)
        out.append(stmt)
    scratch = sqlite3.connect(":memory:")
    try:
        for stmt in out:
            scratch.execute(stmt)
        for table, needed in REQUIRED_COLUMNS.items():
            have = {r[1] for r in scratch.execute(f"PRAGMA table_info({table})")}
            missing = sorted(needed - have)
            if missing:
                raise DatabaseError(f"{spec.source}: the schema's {table} table lacks "
                                    f"{missing}; fix: keep the account directory's columns "
                                    f"{sorted(needed)} when redefining it")
    except sqlite3.Error as exc:
        raise DatabaseError(f"{spec.source}: the schema does not run ({exc}); fix: correct its SQL"
                            ) from exc
    finally:
        scratch.close()
    return out


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _meta_for_seed(target: Path, force: bool) -> dict[str, str] | None:
    """The meta table, ``{}`` when there is no file, None when unreadable and ``force``."""
    try:
        return read_meta(target)
    except DatabaseUnreadableError:
        if force:
            return None
        raise


def _meta_rows(counts: dict[str, int], digest: str, version: str, spec: AccountSeed
               ) -> list[tuple[str, str]]:
    rows = {"demo_user_id": "u-0001", **spec.meta,
            "schema_version": str(SCHEMA_VERSION), "seed_version": version,
            "row_counts": json.dumps(counts), "content_hash": digest}
    return sorted(rows.items())


def _fill(conn: sqlite3.Connection, data: dict[str, list[tuple[Any, ...]]], version: str,
          spec: AccountSeed) -> tuple[dict[str, int], str]:
    for table, rows in data.items():
        if rows:
            marks = ",".join("?" * len(rows[0]))
            try:
                conn.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
            except sqlite3.Error as exc:
                raise DatabaseError(f"{spec.source}: the rows of {table} do not fit its schema "
                                    f"({exc}); fix: the seed's schema or its rows") from exc
    counts = {t: len(rows) for t, rows in data.items()}
    digest = content_hash(conn, tuple(data))
    conn.executemany("INSERT INTO meta VALUES (?, ?)", _meta_rows(counts, digest, version, spec))
    return counts, digest


def _reseed_in_place(target: Path, statements: list[str], data: dict[str, list[tuple[Any, ...]]],
                     version: str, spec: AccountSeed
                     ) -> tuple[dict[str, int], str, dict[str, int]]:
    conn = sqlite3.connect(target, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("BEGIN IMMEDIATE")  # the write lock: runtime writers wait, readers go on
        try:
            # Every table but the runtime ones: a previous pack's tables go too.
            old = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%'")]
            for table in old:
                if table not in RUNTIME_TABLES:
                    conn.execute(f'DROP TABLE IF EXISTS "{table}"')
            for stmt in statements:
                conn.execute(stmt)
            counts, digest = _fill(conn, data, version, spec)
            kept = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                    for t in RUNTIME_TABLES}
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return counts, digest, kept


def _build_fresh(target: Path, statements: list[str], data: dict[str, list[tuple[Any, ...]]],
                 version: str, spec: AccountSeed) -> tuple[dict[str, int], str]:
    tmp = target.with_name(f"{_tmp_prefix(target)}{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        conn = sqlite3.connect(tmp)
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        for stmt in statements:
            conn.execute(stmt)
        counts, digest = _fill(conn, data, version, spec)
        conn.commit()
        # WAL is persistent in the file header; readers and the runtime writers then coexist.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.close()
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())  # durable before the rename makes it the database
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
    return counts, digest


def _set_aside(target: Path) -> Path:
    """Move an unreadable database (and its WAL) out of the way instead of deleting it."""
    aside = target.with_name(f"{target.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{target}{suffix}")
        if src.exists():
            os.replace(src, Path(f"{aside}{suffix}"))
    log.warning("unreadable customer database moved to %s", aside)
    return aside


def data_tables(conn: sqlite3.Connection) -> tuple[str, ...]:
    """The seeded data tables, in seed order (from the meta table's row counts)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'row_counts'").fetchone()
    return tuple(json.loads(row[0])) if row else DIRECTORY_TABLES


def _order(conn: sqlite3.Connection, table: str) -> str:
    """Primary-key order: ``rowid``, or a WITHOUT ROWID table's key columns."""
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                       (table,)).fetchone()
    if sql and "WITHOUT ROWID" in str(sql[0]).upper():
        keys = sorted((r[5], r[1]) for r in conn.execute(f'PRAGMA table_info("{table}")') if r[5])
        return ", ".join(f'"{name}"' for _, name in keys)
    return "rowid"


def content_hash(conn: sqlite3.Connection, tables: tuple[str, ...] | None = None) -> str:
    """SHA-256 over every data table's rows in primary-key order (runtime tables excluded)."""
    h = hashlib.sha256()
    for table in tables if tables is not None else data_tables(conn):
        h.update(table.encode())
        for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY {_order(conn, table)}'):
            h.update(repr(tuple(row)).encode())
    return h.hexdigest()


def row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    tables = (*data_tables(conn), *RUNTIME_TABLES)
    return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
