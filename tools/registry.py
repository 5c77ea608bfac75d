"""Import a domain pack's tools (``module:attribute``) and check what the graph relies on.

A pack tool must be a LangChain ``BaseTool`` whose name is its manifest key, and must not take
the user from the model: a parameter the model fills named like a user or account id would let
a model (or a prompt injection) choose whose data it reads. The caller comes from the runtime
(``ToolRuntime``: ``runtime.context.user_id``), which LangGraph injects and no model can set.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from collections.abc import Callable
from typing import Any

from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from switchyard.core.pack import DomainPack, PackError

# Model-visible parameters that would name the caller.
IDENTITY_PARAMS = frozenset({"user_id", "user", "userid", "account_id", "customer_id", "org_id",
                             "organization_id", "tenant", "tenant_id"})


def manifest_key_error(pack: DomainPack, key: str, problem: str, fix: str) -> PackError:
    """The manifest's file, the key, what is wrong and the fix, in one sentence."""
    return PackError(f"{pack.manifest_path}: key {key}: {problem}; fix: {fix}")


def resolve_ref(pack: DomainPack, key: str, ref: str) -> object:
    """Import ``module:attribute`` for the manifest's ``key`` (a module in the pack's folder is
    importable); a :class:`PackError` naming the key and the fix when it cannot be."""
    module_name, _, attribute = ref.partition(":")
    # A module in the pack's own folder is importable (appended: it never shadows a library).
    if str(pack.root) not in sys.path:
        sys.path.append(str(pack.root))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise manifest_key_error(pack, key, f"cannot import module {module_name!r} ({exc})",
                                 "make the module importable (install it, or put the pack's folder on "
                                 "PYTHONPATH) or correct the reference") from None
    except Exception as exc:  # the module itself fails while importing
        raise manifest_key_error(pack, key, f"importing {module_name!r} raised "
                                 f"{type(exc).__name__}: {exc}", "fix that module") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise manifest_key_error(pack, key, f"module {module_name!r} has no attribute {attribute!r}",
                                 "correct the attribute name after ':'") from None


def resolve_tool(pack: DomainPack, name: str) -> BaseTool:
    key, ref = f"tools.{name}.ref", pack.manifest.tools[name].ref
    tool = resolve_ref(pack, key, ref)
    if not isinstance(tool, BaseTool):
        raise manifest_key_error(pack, key, f"{ref} is a {type(tool).__name__}, not a LangChain tool",
                                 "decorate the function with @tool (langchain_core.tools)")
    if tool.name != name:
        raise manifest_key_error(pack, key, f"the tool at {ref} is named {tool.name!r}",
                                 f"rename the manifest's [tools.{name}] to [tools.{tool.name}] "
                                 "or the tool itself")
    visible = set(tool.tool_call_schema.model_json_schema().get("properties", {}))
    leaked = sorted(visible & IDENTITY_PARAMS)
    if leaked:
        raise manifest_key_error(pack, key, f"the model would choose the parameter(s) {leaked}",
                                 "take the signed-in user from the injected runtime instead "
                                 "(a `runtime: ToolRuntime[Context]` parameter: runtime.context.user_id)")
    return tool


def _resolve_hook(pack: DomainPack, key: str, ref: str | None, signature: str) -> Any:
    """The function a manifest ``key`` names, or None when the pack declares none; anything
    but a function is refused with the key and the ``signature`` it should have."""
    if ref is None:
        return None
    hook = resolve_ref(pack, key, ref)
    if not callable(hook):
        raise manifest_key_error(pack, key, f"{ref} is a {type(hook).__name__}, not a function",
                                 f"point it at a function {signature}")
    return hook


def resolve_account_snapshot(pack: DomainPack) -> Callable[..., dict[str, Any]] | None:
    """The pack's ``account_snapshot`` function, or None when it declares none."""
    return _resolve_hook(pack, "account_snapshot", pack.manifest.account_snapshot,
                         "(accounts, user_id, *, include_name=False) -> dict")


def resolve_account_seed(pack: DomainPack) -> Callable[[dict[str, Any]], Any] | None:
    """The pack's ``[accounts] seed`` function, or None when it declares none."""
    return _resolve_hook(pack, "accounts.seed", pack.manifest.accounts.seed,
                         "(product: dict) -> switchyard.tools.database.AccountSeed")


def resolve_tools(pack: DomainPack) -> dict[str, BaseTool]:
    """Every tool the pack declares, imported and checked, in the manifest's order."""
    return {name: resolve_tool(pack, name) for name in pack.manifest.tools}


def toolset_version_of(tools: list[BaseTool]) -> str:
    specs = json.dumps([convert_to_openai_tool(t) for t in tools], sort_keys=True)
    return hashlib.sha256(specs.encode()).hexdigest()[:10]
