"""The active domain pack's tools, imported from the manifest's ``module:attribute`` references.

The bundled pack's own tools live in its folder and work over the customer database
(``switchyard.tools.database``), scoped to the signed-in user. Every tool, whatever pack it comes from, gets
the caller from LangGraph's injected ``ToolRuntime`` (``runtime.context.user_id``), never from
arguments, and answers with a string (``ERROR: <message>`` for refusals and bad arguments).

``TOOLS_BY_NAME``, ``BASIC_TOOLS`` (what the standard tier may bind), ``EXPERT_ONLY_TOOLS`` and
``ALL_TOOLS`` are refilled in place whenever a pack is activated
(``switchyard.core.domain.activate``); ``toolset_version()`` hashes them.
"""

from typing import Any

from langchain_core.tools import BaseTool

from switchyard.core.domain import TOOLS, active_pack, on_activate
from switchyard.tools.auth import ToolAuthError
from switchyard.tools.common import ToolError
from switchyard.tools.registry import (
    resolve_account_seed,
    resolve_account_snapshot,
    resolve_tools,
    toolset_version_of,
)

TOOLS_BY_NAME: dict[str, BaseTool] = {}
BASIC_TOOLS: list[BaseTool] = []
EXPERT_ONLY_TOOLS: list[BaseTool] = []
ALL_TOOLS: list[BaseTool] = []
PUBLIC_TOOLS: frozenset[str] = frozenset()
_VERSION: list[str] = [""]
_SNAPSHOT: list[Any] = [None]


def _prepare(pack):  # type: ignore[no-untyped-def]
    resolved = resolve_tools(pack)  # raises PackError before anything changes
    snapshot = resolve_account_snapshot(pack)
    resolve_account_seed(pack)  # a bad [accounts] seed refuses the pack here too
    version = toolset_version_of(list(resolved.values()))

    def commit() -> None:
        global PUBLIC_TOOLS
        TOOLS_BY_NAME.clear()
        TOOLS_BY_NAME.update(resolved)
        BASIC_TOOLS[:] = [t for n, t in resolved.items() if not TOOLS[n].expert_only]
        EXPERT_ONLY_TOOLS[:] = [t for n, t in resolved.items() if TOOLS[n].expert_only]
        ALL_TOOLS[:] = [*BASIC_TOOLS, *EXPERT_ONLY_TOOLS]
        PUBLIC_TOOLS = frozenset(n for n in resolved if not TOOLS[n].reads_account)
        _VERSION[0] = version
        _SNAPSHOT[0] = snapshot

    return commit


def has_account_snapshot() -> bool:
    """Whether the active pack gives personal fast-tier answers an account snapshot."""
    return _SNAPSHOT[0] is not None


def account_snapshot(accounts: Any, user_id: str, *, include_name: bool = False) -> dict[str, Any]:
    """The signed-in user's account facts from the active pack's ``account_snapshot`` function
    (raises ``ToolAuthError`` for an unknown or inactive user, ``LookupError`` without one)."""
    hook = _SNAPSHOT[0]
    if hook is None:
        raise LookupError("the active domain pack declares no account_snapshot")
    return hook(accounts, user_id, include_name=include_name)


def toolset_version() -> str:
    """Part of the cache partition: a changed tool (name, description, schema) never serves
    answers written with the old one."""
    return _VERSION[0]


on_activate(_prepare)
_prepare(active_pack())()

__all__ = [
    "ALL_TOOLS", "BASIC_TOOLS", "EXPERT_ONLY_TOOLS", "PUBLIC_TOOLS", "TOOLS_BY_NAME",
    "ToolAuthError", "ToolError", "account_snapshot", "has_account_snapshot", "toolset_version",
]
