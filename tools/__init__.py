"""Support tools over the Quillstack customer database, scoped to the signed-in user.

``BASIC_TOOLS`` go to the standard agent, ``ALL_TOOLS`` to the expert. Every tool gets the caller
from LangGraph's injected ``ToolRuntime`` (``runtime.context.user_id``), never from arguments,
and answers with a string: a one-sentence summary, then ``key: value`` lines, or
``ERROR: <message>`` for refusals and bad arguments.
"""

import hashlib
import json

from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from switchyard.tools.account import account_snapshot, get_account_summary, get_subscription
from switchyard.tools.analytics import usage_analytics
from switchyard.tools.auth import ToolAuthError
from switchyard.tools.billing import explain_charge, get_invoice, list_invoices
from switchyard.tools.common import ToolError
from switchyard.tools.errors import lookup_error_code, recent_api_errors
from switchyard.tools.identity import reset_password, verify_identity
from switchyard.tools.migration import estimate_migration
from switchyard.tools.pricing import pricing_calculator

BASIC_TOOLS: list[BaseTool] = [
    verify_identity, reset_password, get_account_summary, list_invoices, get_invoice,
    explain_charge, get_subscription, lookup_error_code, recent_api_errors,
]
EXPERT_ONLY_TOOLS: list[BaseTool] = [usage_analytics, pricing_calculator, estimate_migration]
ALL_TOOLS: list[BaseTool] = [*BASIC_TOOLS, *EXPERT_ONLY_TOOLS]
TOOLS_BY_NAME: dict[str, BaseTool] = {t.name: t for t in ALL_TOOLS}
# Tools that read no account data and need no signed-in user.
PUBLIC_TOOLS = frozenset({"lookup_error_code", "pricing_calculator"})


def _toolset_version(tools: list[BaseTool]) -> str:
    # Part of the cache partition: a changed tool (name, description, schema) never serves
    # answers written with the old one.
    specs = json.dumps([convert_to_openai_tool(t) for t in tools], sort_keys=True)
    return hashlib.sha256(specs.encode()).hexdigest()[:10]


TOOLSET_VERSION = _toolset_version(ALL_TOOLS)

__all__ = [
    "TOOLSET_VERSION",
    "ALL_TOOLS", "BASIC_TOOLS", "EXPERT_ONLY_TOOLS", "PUBLIC_TOOLS", "TOOLS_BY_NAME",
    "ToolAuthError", "ToolError", "account_snapshot",
]
