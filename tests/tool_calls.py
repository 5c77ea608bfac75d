"""Call a tool exactly as the agents' ``ToolNode`` does, outside the real graph.

``call_tool`` runs a one-node graph (``ToolNode(ALL_TOOLS)`` with ``context_schema=Context``), so
the ``ToolRuntime`` injection, argument validation and error handling are the production ones.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage


@lru_cache(maxsize=1)
def _tool_graph() -> Any:
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    from switchyard.context import Context
    from switchyard.tools import ALL_TOOLS

    builder = StateGraph(MessagesState, context_schema=Context)
    builder.add_node("tools", ToolNode(ALL_TOOLS))
    builder.add_edge(START, "tools")
    builder.add_edge("tools", END)
    return builder.compile()


def call_tool_message(name: str, args: dict[str, Any] | None = None,
                      user_id: str | None = "u-0001") -> ToolMessage:
    """The ``ToolMessage`` the agent would see. ``user_id=None`` means nobody is signed in."""
    from switchyard.context import Context

    call = {"name": name, "args": dict(args or {}), "id": f"call_{uuid.uuid4().hex[:12]}",
            "type": "tool_call"}
    context = Context(user_id=user_id or "")
    out = _tool_graph().invoke({"messages": [AIMessage(content="", tool_calls=[call])]},
                               context=context)
    message = out["messages"][-1]
    assert isinstance(message, ToolMessage)
    return message


def call_tool(name: str, args: dict[str, Any] | None = None, user_id: str | None = "u-0001") -> str:
    """The tool's result text as the agent would see it (``ERROR: ...`` for refusals)."""
    content = call_tool_message(name, args, user_id).content
    return content if isinstance(content, str) else str(content)
