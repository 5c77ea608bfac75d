"""Fast agent (small model, RAG only): retrieve -> answer. No tool-calling loop.

Per DESIGN.md's reading of the article: the fast agent's retrieval covers the help center *and* the
signed-in customer's read-only account snapshot, so lookups ("what's my balance?") need no tools.
Actions the classification asked for (a password reset) run as fixed steps after identity
verification, with no model choosing tools. Out-of-scope requests get a one-call deflection.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime
from switchyard.agents.common import (
    AgentInput,
    AgentOutput,
    AgentState,
    call_model,
    elapsed_ms,
    is_truncated,
    model_name,
    question,
    retrieve_passages,
    search_query,
    sources_of,
    tool_failed,
)
from switchyard.agents.prompts import DEFLECT_SYSTEM, FAST_SYSTEM, render_account, render_passages
from switchyard.graph.context import Context
from switchyard.tools import TOOLS_BY_NAME, ToolAuthError, account_snapshot

TIER = "fast"
# Intents whose answer is an action run as fixed steps: (tool, args) in order.
FIXED_ACTIONS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "password_reset": [("verify_identity", {}), ("reset_password", {})],
}
# One ToolNode for every fixed step: it injects the runtime (caller identity) like the agents' loops.
_ACTION_TOOLS = ToolNode(
    [TOOLS_BY_NAME[name] for steps in FIXED_ACTIONS.values() for name, _ in steps],
    handle_tool_errors=True, messages_key="work",
)


async def retrieve(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    start = time.perf_counter()
    cls = state.get("classification") or {}
    if cls.get("in_scope") is False:
        return {"passages": [], "account": None, "timings": {"fast.retrieve": elapsed_ms(start)}}
    passages = await retrieve_passages(search_query(state))
    account = None
    if cls.get("requires_auth"):
        ctx = runtime.context or Context()
        try:
            account = await asyncio.to_thread(account_snapshot, ctx.user_id)
        except ToolAuthError as exc:
            # An invited, locked or deactivated user gets told why, not a failed request.
            account = {"account_note": str(exc)}
    return {"passages": passages, "account": account, "sources": sources_of(passages),
            "timings": {"fast.retrieve": elapsed_ms(start)}}


async def act(state: AgentState, config: RunnableConfig) -> dict[str, Any]:
    """Run the classification's fixed action steps in order, stopping at the first refusal."""
    start = time.perf_counter()
    steps = FIXED_ACTIONS.get((state.get("classification") or {}).get("intent", ""), [])
    results: list[ToolMessage] = []
    for i, (name, args) in enumerate(steps):
        call = {"name": name, "args": args, "id": f"fixed_{i}_{name}", "type": "tool_call"}
        out = await _ACTION_TOOLS.ainvoke({"work": [AIMessage(content="", tool_calls=[call])]}, config)
        results.append(out["work"][-1])
        if tool_failed(results[-1:]):
            break
    action = "\n".join(str(r.content).splitlines()[0] for r in results if str(r.content).strip())
    return {"action": action, "tools_used": [r.name for r in results],
            "outcome": {"tool_failed": tool_failed(results)},
            "timings": {"fast.act": elapsed_ms(start)}}


def needs_action(state: AgentState) -> str:
    intent = (state.get("classification") or {}).get("intent", "")
    return "act" if intent in FIXED_ACTIONS and (state.get("classification") or {}).get("in_scope", True) else "answer"


async def answer(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    cls = state.get("classification") or {}
    if cls.get("in_scope") is False:
        messages = [SystemMessage(DEFLECT_SYSTEM), HumanMessage(question(state))]
    else:
        context = "\n".join(
            part for part in (
                render_passages(state.get("passages") or []),
                render_account(state.get("account")),
                f"<action>\n{state['action']}\n</action>" if state.get("action") else "",
            ) if part
        )
        messages = [SystemMessage(FAST_SYSTEM + "\n\n" + context), HumanMessage(question(state))]
    message, usage, ms = await call_model(TIER, "answer", messages, runtime)
    outcome = {**(state.get("outcome") or {}), "truncated": is_truncated(message)}
    return {"answer": str(message.content), "agent": TIER, "model": model_name(message, TIER),
            "usage": [usage], "outcome": outcome, "timings": {"fast.answer": ms}}


builder = StateGraph(AgentState, input_schema=AgentInput, output_schema=AgentOutput)
builder.add_node("retrieve", retrieve)
builder.add_node("act", act)
builder.add_node("answer", answer)
builder.add_edge(START, "retrieve")
builder.add_conditional_edges("retrieve", needs_action, ["act", "answer"])
builder.add_edge("act", "answer")
builder.add_edge("answer", END)
fast_agent = builder.compile(name="fast")
