"""Services starting together on one home share the SQLite thread store without failing.

The checkpointer's setup switches the file to WAL and creates its tables; run by several
connections at once, one of them can get "database is locked" at once rather than waiting (a
stale read snapshot cannot be upgraded to a write). Before the retry this failed a few times in
every couple of hundred concurrent starts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from switchyard.core.settings import Settings
from switchyard.threads.store import open_thread_store


async def _start(settings: Settings, path: Path) -> str:
    try:
        async with open_thread_store(settings, path) as store:
            return store.kind
    except Exception as exc:  # noqa: BLE001 - the test reports every failure
        return repr(exc)


async def test_concurrent_starts_on_one_file_all_succeed(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    outcomes: list[str] = []
    for round_ in range(40):
        path = tmp_path / f"threads-{round_}.sqlite"
        outcomes += await asyncio.gather(*(_start(settings, path) for _ in range(8)))
    failures = [o for o in outcomes if o != "sqlite"]
    assert not failures, f"{len(failures)} of {len(outcomes)} starts failed: {failures[:3]}"
