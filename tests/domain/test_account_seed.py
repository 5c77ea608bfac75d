"""The customer database's account directory and a pack's ``[accounts] seed``.

Every pack gets the directory (organizations and users who can sign in, the runtime tables); a
pack without a seed hook gets a generic directory of demo users and nothing else, a pack with
one gets its own tables and rows. A bad hook or product sheet names the manifest, the key and
the fix, before anything is written.
"""

from __future__ import annotations

import shutil
import sqlite3
from itertools import count
from pathlib import Path

import pytest

from switchyard.core.pack import PackError, default_pack_dir, load_pack
from switchyard.tools import database as db
from switchyard.tools.registry import resolve_account_seed

FERNHILL = Path(__file__).resolve().parent / "packs" / "fernhill"
DIRECTORY = {"meta", "organizations", "users", *db.RUNTIME_TABLES}
_unique = count()


def _tables(path: Path) -> set[str]:
    with db.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _pack(tmp_path: Path, seed_code: str | None, *, product: str | None = '{"tiers": ["gold"]}',
          ref: str | None = None) -> Path:
    """Fernhill with a product sheet and a seed hook in a module of its own (a fresh module
    name per pack, so one test's module never stands in for another's)."""
    root = tmp_path / f"pack{next(_unique)}"
    shutil.copytree(FERNHILL, root)
    module = f"acct_seed_{next(_unique)}"
    extra = ""
    if product is not None:
        (root / "facts.json").write_text(product)
        extra += '\n[paths]\nproduct = "facts.json"\n'
    if seed_code is not None:
        (root / f"{module}.py").write_text(seed_code)
    if ref is not None or seed_code is not None:
        extra += f'\n[accounts]\nseed = "{ref or module + ":seed"}"\n'
    manifest = root / "domain.toml"
    manifest.write_text(manifest.read_text() + extra)
    return root


GOOD_SEED = '''
from switchyard.tools.database import AccountSeed

SCHEMA = """
CREATE TABLE organizations (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, domain TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL, status TEXT NOT NULL, tier TEXT NOT NULL
);
CREATE TABLE loyalty (org_id INTEGER NOT NULL, points INTEGER NOT NULL,
                      PRIMARY KEY (org_id)) WITHOUT ROWID;
"""


def seed(product):
    tier = product["tiers"][0]

    def rows():
        return {
            "organizations": [(1, "Greenhouse One", "one.example", "2026-01-01", "active", tier)],
            "users": [("u-0001", 1, "a@one.example", "Ada", "admin", 1, "active", 0,
                       "2026-01-01", None),
                      ("u-0002", 1, "b@one.example", "Bo", "viewer", 0, "locked", 5,
                       "2026-01-01", None)],
            "loyalty": [(1, 120)],
        }

    return AccountSeed(version="loyalty1-" + tier, generate=rows, schema=SCHEMA,
                       headline=("organizations", "users", "loyalty"))
'''


# -- the generic directory (a pack without a seed hook) ---------------------------------------


def test_a_pack_without_a_seed_hook_gets_only_the_generic_directory(tmp_path: Path) -> None:
    assert resolve_account_seed(load_pack(FERNHILL)) is None
    a = db.seed(tmp_path / "a.sqlite", db.pack_seed(load_pack(FERNHILL), {}))
    b = db.seed(tmp_path / "b.sqlite")  # the default is the same directory
    assert a.content_hash == b.content_hash and not a.skipped
    assert a.counts == {"organizations": db.DIRECTORY_ORGS,
                        "users": db.DIRECTORY_ORGS * db.DIRECTORY_USERS_PER_ORG}
    assert a.summary().startswith("20 organizations, 200 users (seeded in")
    assert _tables(a.path) == DIRECTORY
    accounts = db.CustomerDatabase(a.path)
    # The demo users every pack and the init template rely on can sign in, in one organization.
    assert accounts.user_account("u-0001") == ("active", 1)
    assert accounts.user_account("u-0002") == ("active", 1)
    assert accounts.user_account("u-0019") == ("locked", 2)
    assert accounts.user_account("u-0020") == ("invited", 2)
    assert accounts.user_account("u-0201") is None
    with db.connect(a.path) as conn:
        assert db.read_meta(a.path)["demo_user_id"] == "u-0001"
        assert conn.execute("SELECT role FROM users WHERE id = 'u-0001'").fetchone()[0] == "admin"
        names = " ".join(r[0] for r in conn.execute("SELECT name FROM organizations"))
    assert names.startswith("Demo Organization 01")
    assert db.seed(a.path).skipped  # up to date


# -- a pack's own seed --------------------------------------------------------------------------


def test_a_pack_s_seed_adds_its_tables_columns_and_rows(tmp_path: Path) -> None:
    pack = load_pack(_pack(tmp_path, GOOD_SEED))
    assert pack.product_path == pack.root / "facts.json"
    sheet = db.load_product(pack.product_path)
    spec = db.pack_seed(pack, sheet)
    result = db.seed(tmp_path / "c.sqlite", spec)
    assert result.counts == {"organizations": 1, "users": 2, "loyalty": 1}
    assert result.summary().startswith("1 organizations, 2 users, 1 loyalty")
    assert _tables(result.path) == DIRECTORY | {"loyalty"}
    with db.connect(result.path) as conn:
        assert conn.execute("SELECT tier FROM organizations").fetchone()[0] == "gold"
        assert db.content_hash(conn) == result.content_hash  # WITHOUT ROWID hashed in key order
    assert db.read_meta(result.path)["seed_version"] == f"schema{db.SCHEMA_VERSION}-loyalty1-gold"
    accounts = db.CustomerDatabase(result.path, sheet, spec)
    assert accounts.user_account("u-0002") == ("locked", 1)
    assert accounts.product == {"tiers": ["gold"]}


def test_switching_a_home_to_a_pack_without_a_seed_drops_the_old_pack_s_tables(
        tmp_path: Path) -> None:
    pack = load_pack(_pack(tmp_path, GOOD_SEED))
    path = tmp_path / "customers.sqlite"
    db.seed(path, db.pack_seed(pack, db.load_product(pack.product_path)))
    with db.connect(path, read_only=False) as conn:
        conn.execute("INSERT INTO password_resets (user_id, requested_at, expires_at, "
                     "token_sha256, sent_to) VALUES ('u-0001', 'x', 'y', 'z', 'a@one.example')")
    again = db.seed(path, db.directory_seed())
    assert not again.skipped and again.kept_runtime_rows == {"identity_verifications": 0,
                                                             "password_resets": 1}
    assert _tables(path) == DIRECTORY
    with db.connect(path) as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(organizations)")}
    assert "tier" not in columns


# -- what a bad hook or product sheet gets ------------------------------------------------------


@pytest.mark.parametrize(("code", "ref", "problem"), [
    (None, "no_such_seed_module_xyz:seed", "cannot import module 'no_such_seed_module_xyz'"),
    ("X = 1\n", None, "has no attribute 'seed'"),
    ("seed = 42\n", None, "not a function"),
])
def test_a_hook_that_cannot_be_resolved_refuses_the_pack(tmp_path: Path, code: str | None,
                                                         ref: str | None, problem: str) -> None:
    root = _pack(tmp_path, code, ref=ref)
    with pytest.raises(PackError) as err:
        resolve_account_seed(load_pack(root))
    message = str(err.value)
    assert message.startswith(f"{root / 'domain.toml'}: key accounts.seed: ")
    assert problem in message and "fix:" in message


@pytest.mark.parametrize(("code", "problem"), [
    ("def seed(product):\n    raise KeyError('plans')\n", "raised KeyError"),
    ("def seed(product):\n    return {'organizations': []}\n", "returned a dict, not an AccountSeed"),
])
def test_a_hook_that_raises_or_returns_garbage_names_the_key(tmp_path: Path, code: str,
                                                             problem: str) -> None:
    root = _pack(tmp_path, code)
    with pytest.raises(PackError) as err:
        db.pack_seed(load_pack(root), {})
    assert f"{root / 'domain.toml'}: key accounts.seed: " in str(err.value)
    assert problem in str(err.value) and "fix:" in str(err.value)


@pytest.mark.parametrize(("schema", "problem"), [
    ("CREATE TABLE users (id TEXT PRIMARY KEY, org_id INTEGER, name TEXT)",
     "the schema's users table lacks ['email', 'role', 'status']"),
    ("CREATE TABLE loyalty (org_id INTEGER,", "the schema does not run"),
    ("CREATE TABLE password_resets (id INTEGER)", "redefines ['password_resets']"),
])
def test_a_bad_schema_stops_the_seed_before_anything_is_written(tmp_path: Path, schema: str,
                                                                problem: str) -> None:
    code = (f"from switchyard.tools.database import AccountSeed\n"
            f"def seed(product):\n"
            f"    return AccountSeed(version='v', generate=dict, schema={schema!r})\n")
    root = _pack(tmp_path, code)
    spec = db.pack_seed(load_pack(root), {})
    target = tmp_path / "never.sqlite"
    with pytest.raises(db.DatabaseError) as err:
        db.seed(target, spec)
    assert f"{root / 'domain.toml'}: key accounts.seed: " in str(err.value)
    assert problem in str(err.value) and "fix:" in str(err.value)
    assert not target.exists()


def test_rows_without_the_directory_tables_first_are_refused(tmp_path: Path) -> None:
    spec = db.AccountSeed(version="v", generate=lambda: {"users": [], "organizations": []})
    with pytest.raises(db.DatabaseError, match=r"organizations and users first"):
        db.seed(tmp_path / "x.sqlite", spec)


@pytest.mark.parametrize(("sheet", "problem"), [
    (None, "does not exist"),
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "not a JSON object"),
])
def test_a_bad_product_sheet_is_a_manifest_error(tmp_path: Path, sheet: str | None,
                                                 problem: str) -> None:
    root = _pack(tmp_path, None, product=sheet)
    if sheet is None:  # declared, but the file is missing
        manifest = root / "domain.toml"
        manifest.write_text(manifest.read_text() + '\n[paths]\nproduct = "facts.json"\n')
    with pytest.raises(PackError) as err:
        load_pack(root)
    assert "key paths.product: " in str(err.value) and problem in str(err.value)
    assert "fix:" in str(err.value)


def test_an_unknown_accounts_key_is_a_manifest_error(tmp_path: Path) -> None:
    root = _pack(tmp_path, None, product=None)
    manifest = root / "domain.toml"
    manifest.write_text(manifest.read_text() + '\n[accounts]\nsead = "x:y"\n')
    with pytest.raises(PackError, match=r"key accounts\.sead: .*fix: remove it or fix its "
                                        r"spelling"):
        load_pack(root)


def test_the_bundled_pack_declares_its_seed_and_product_sheet() -> None:
    pack = load_pack(default_pack_dir())
    assert pack.product_path is not None and pack.product_path.is_file()
    assert pack.product_path.is_relative_to(pack.root)
    hook = resolve_account_seed(pack)
    assert callable(hook)
    spec = hook(db.load_product(pack.product_path))
    assert isinstance(spec, db.AccountSeed) and "invoices" in spec.headline
    # The schema keeps the directory's columns (checked without generating any rows).
    statements = db.schema_statements(spec)
    scratch = sqlite3.connect(":memory:")
    for stmt in statements:
        scratch.execute(stmt)
    assert {"plan", "region"} <= {r[1] for r in scratch.execute("PRAGMA table_info(organizations)")}
