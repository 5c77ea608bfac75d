"""The bundled pack's customer data for tests that check its exact facts (its seed, product sheet
and snapshot date), found through the manifest like production does."""

from __future__ import annotations

import importlib
from functools import lru_cache
from types import ModuleType
from typing import Any


@lru_cache(maxsize=1)
def bundled_database() -> Any:
    """An unbound ``CustomerDatabase`` for the bundled pack (product sheet and account seed)."""
    from switchyard.core.settings import Settings
    from switchyard.tools.database import CustomerDatabase

    return CustomerDatabase.for_settings(Settings(domain=None))


def product() -> dict[str, Any]:
    return bundled_database().product  # type: ignore[no-any-return]


def accounts_seed() -> Any:
    return bundled_database().accounts_seed


def seed_module() -> ModuleType:
    """The module behind the bundled pack's ``[accounts] seed`` (``AS_OF``, ``SEED``...)."""
    import switchyard.tools  # noqa: F401 - puts the pack's folder on sys.path
    from switchyard.core.pack import default_pack_dir, load_pack_cached

    ref = load_pack_cached(default_pack_dir()).manifest.accounts.seed
    return importlib.import_module(ref.partition(":")[0])
