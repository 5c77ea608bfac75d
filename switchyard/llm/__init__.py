"""Chat models per tier: the model factory, the model catalogue and the offline model.

Exports resolve lazily: ``switchyard.core.settings`` imports ``switchyard.llm.catalog`` to price the
tiers, and an eager import of the factory here would import the settings back half-built.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ModelFactory": "switchyard.llm.factory",
    "TierGate": "switchyard.llm.factory",
    "is_unusable": "switchyard.llm.answers",
    "OfflineChatModel": "switchyard.llm.offline",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'switchyard.llm' has no attribute {name!r}")
