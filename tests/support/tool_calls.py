"""Call a tool exactly as the agents' ``ToolNode`` does, outside the real graph.

``call_tool`` runs a one-node graph (``ToolNode(ALL_TOOLS)`` with ``context_schema=Context``) whose
tool calls get the customer database the way the agents' tool nodes hand it over, so the
``ToolRuntime`` injection, argument validation and error handling are the production ones.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage


@lru_cache(maxsize=1)
def accounts() -> Any:
    """The test session's customer database (its home, from the environment)."""
    from switchyard.core.settings import Settings
    from switchyard.tools.database import CustomerDatabase

    settings = Settings()
    return CustomerDatabase.for_settings(settings)


@lru_cache(maxsize=1)
def _tool_graph() -> Any:
    import functools
    from types import SimpleNamespace

    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    from switchyard.agents.common import inject_accounts
    from switchyard.core.context import Context
    from switchyard.tools import ALL_TOOLS

    deps = SimpleNamespace(database=accounts())
    builder = StateGraph(MessagesState, context_schema=Context)
    builder.add_node("tools", ToolNode(ALL_TOOLS, awrap_tool_call=functools.partial(
        inject_accounts, deps)))
    builder.add_edge(START, "tools")
    builder.add_edge("tools", END)
    return builder.compile()


def call_tool_message(name: str, args: dict[str, Any] | None = None,
                      user_id: str | None = "u-0001") -> ToolMessage:
    """The ``ToolMessage`` the agent would see. ``user_id=None`` means nobody is signed in."""
    from switchyard.core.context import Context

    call = {"name": name, "args": dict(args or {}), "id": f"call_{uuid.uuid4().hex[:12]}",
            "type": "tool_call"}
    context = Context(user_id=user_id or "")
    import asyncio

    out = asyncio.run(_tool_graph().ainvoke(
        {"messages": [AIMessage(content="", tool_calls=[call])]}, context=context))
    message = out["messages"][-1]
    assert isinstance(message, ToolMessage)
    return message


def call_tool(name: str, args: dict[str, Any] | None = None, user_id: str | None = "u-0001") -> str:
    """The tool's result text as the agent would see it (``ERROR: ...`` for refusals)."""
    content = call_tool_message(name, args, user_id).content
    return content if isinstance(content, str) else str(content)
