"""Is this home fit to serve? Storage checks across the layers (the home, the customer database,
the knowledge index), for ``/readyz`` and ``switchyard serve``.

It sits above the tools and knowledge layers because it asks both; the error wording lives in
``switchyard.core.storage``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from switchyard.core import storage
from switchyard.core.storage import StorageProblem, _problem
from switchyard.knowledge.ingest import BUILD_FILES, IndexIntegrityError, build_dir, read_manifest
from switchyard.tools.database import DatabaseUnreadableError, connect, read_meta


def storage_health(settings: Any) -> list[StorageProblem]:
    """Everything that would make requests fail for storage reasons; empty when healthy."""
    home = Path(settings.home)
    problems: list[StorageProblem] = []
    if not home.is_dir():
        return [StorageProblem("home", "missing", f"SWITCHYARD_HOME {home} does not exist; "
                                                  "run `switchyard setup`.")]
    try:
        storage.probe_write(home)  # looked up here so tests can inject a disk fault
    except OSError as exc:
        problems.append(_problem("home", exc, home))
    problems.extend(_database_problems(Path(settings.db_path)))
    problems.extend(_index_problems(Path(settings.index_dir)))
    return problems


def _database_problems(path: Path) -> list[StorageProblem]:
    if not path.exists():
        return [StorageProblem("database", "missing", f"no customer database at {path}; run "
                                                      "`switchyard db seed`.")]
    try:
        if not read_meta(path).get("seed_version"):
            return [StorageProblem("database", "unreadable", f"{path} has no seed version; "
                                                             "run `switchyard db seed`.")]
        with connect(path) as conn:
            conn.execute("SELECT id FROM users LIMIT 1").fetchone()
    except DatabaseUnreadableError as exc:
        return [StorageProblem("database", "unreadable", str(exc))]
    except (OSError, sqlite3.Error) as exc:
        return [_problem("database", exc, path)]
    return []


def _index_problems(index_dir: Path) -> list[StorageProblem]:
    """Cheap checks only (no hashing): the committed manifest and its build files exist."""
    try:
        manifest = read_manifest(index_dir)
        if manifest is None:
            return [StorageProblem("knowledge_index", "missing", f"no knowledge index in "
                                                                 f"{index_dir}; run `switchyard ingest`.")]
        build = build_dir(index_dir, manifest)
        missing = [name for name in BUILD_FILES if not (build / name).is_file()]
    except IndexIntegrityError as exc:
        return [StorageProblem("knowledge_index", "unreadable", str(exc))]
    except OSError as exc:
        return [_problem("knowledge_index", exc, index_dir)]
    if missing:
        return [StorageProblem("knowledge_index", "missing",
                               f"knowledge index build {build} lacks {', '.join(missing)}; run "
                               "`switchyard ingest --force`.")]
    return []
