"""Fast agent (small model, RAG only): retrieve -> [act] -> answer. No tool-calling loop.

Per DESIGN.md's reading of the article: the fast agent's retrieval covers the help center *and* the
signed-in customer's read-only account snapshot, so lookups ("what's my balance?") need no tools.
Actions the classification asked for (a password reset) run as fixed steps after identity
verification, with no model choosing tools. Out-of-scope requests get a one-call deflection.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from typing import Any

from langchain_core.messages import AIMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime

from switchyard.agents.common import (
    AgentInput,
    AgentOutput,
    AgentState,
    call_model,
    classification_of,
    context_of,
    conversation,
    elapsed_ms,
    inject_accounts,
    is_truncated,
    model_name,
    provenance,
    retrieve_passages,
    search_query,
    sources_of,
    tool_failed,
)
from switchyard.agents.prompts import DEFLECT_SYSTEM, FAST_SYSTEM, render_account, render_passages
from switchyard.core.context import Context
from switchyard.core.domain import INTENTS, Tier, fixed_actions
from switchyard.deps import Dependencies
from switchyard.tools import TOOLS_BY_NAME, ToolAuthError, account_snapshot

TIER = Tier.FAST
# Every tool any intent's fixed actions use, in one ToolNode (it injects the caller's runtime).
_ACTION_TOOL_NAMES = sorted({name for i in INTENTS.values() for name, _ in i.fixed_actions})
NO_USER_NOTE = "nobody is signed in; sign in to see account details"
# "What name is on my account?": the only request whose answer may carry the user's name.
_ASKS_OWN_NAME = re.compile(r"\b(?:my|own)\s+(?:full\s+)?name\b|\bwho am i\b", re.IGNORECASE)


def build_fast_agent(deps: Dependencies) -> CompiledStateGraph:
    action_tools = ToolNode([TOOLS_BY_NAME[n] for n in _ACTION_TOOL_NAMES],
                            handle_tool_errors=True, messages_key="work",
                            awrap_tool_call=functools.partial(inject_accounts, deps))

    async def retrieve(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        start = time.perf_counter()
        cls = classification_of(state)
        if cls is not None and cls.in_scope is False:
            return {"passages": [], "account": None, "timings": {"fast.retrieve": elapsed_ms(start)}}
        passages = await retrieve_passages(deps, search_query(state))
        account = None
        user_id = context_of(runtime).user_id
        if cls is not None and cls.requires_auth:
            if not user_id:
                account = {"account_note": NO_USER_NOTE}
            else:
                try:
                    asks_name = bool(_ASKS_OWN_NAME.search(state["request"]))
                    account = await asyncio.to_thread(
                        account_snapshot, deps.database, user_id, include_name=asks_name)
                except ToolAuthError as exc:
                    # An invited, locked or deactivated user gets told why, not a failed request.
                    account = {"account_note": str(exc)}
        return {"passages": passages, "account": account, "sources": sources_of(passages),
                "timings": {"fast.retrieve": elapsed_ms(start)}}

    async def act(state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        """Run the intent's fixed action steps in order, stopping at the first refusal."""
        start = time.perf_counter()
        cls = classification_of(state)
        results: list[ToolMessage] = []
        for i, (name, args) in enumerate(fixed_actions(cls.intent if cls else None)):
            call = {"name": name, "args": args, "id": f"fixed_{i}_{name}", "type": "tool_call"}
            out = await action_tools.ainvoke(
                {"work": [AIMessage(content="", tool_calls=[call])]}, config)
            results.append(out["work"][-1])
            if tool_failed(results[-1:]):
                break
        action = "\n".join(str(r.content).splitlines()[0] for r in results if str(r.content).strip())
        return {"action": action, "tools_used": [r.name for r in results],
                "outcome": {"tool_failed": tool_failed(results)},
                "timings": {"fast.act": elapsed_ms(start)}}

    def needs_action(state: AgentState) -> str:
        cls = classification_of(state)
        if cls is not None and cls.in_scope and fixed_actions(cls.intent):
            return "act"
        return "answer"

    async def answer(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        cls = classification_of(state)
        step = "answer"
        if cls is not None and cls.in_scope is False:
            system, step = DEFLECT_SYSTEM, "deflect"
        else:
            context = "\n".join(
                part for part in (
                    render_passages(state.get("passages") or []),
                    render_account(state.get("account")),
                    f"<action>\n{state['action']}\n</action>" if state.get("action") else "",
                ) if part
            )
            system = FAST_SYSTEM + "\n\n" + context
        messages = [SystemMessage(system), *conversation(state)]
        message, usage, ms = await call_model(deps, TIER, step, messages, runtime, answer=True)
        outcome = {**(state.get("outcome") or {}), "truncated": is_truncated(message)}
        # Anything read for the signed-in user (a snapshot, or why it could not be read) is theirs.
        account = state.get("account") or {}
        account_used = bool(account) and account.get("account_note") != NO_USER_NOTE
        return {"answer": str(message.content), "agent": TIER.value,
                "model": model_name(deps, message, TIER), "usage": [usage], "outcome": outcome,
                "timings": {"fast.answer": ms},
                "provenance": provenance(state, account=account_used,
                                         tools=state.get("tools_used") or [])}

    builder = StateGraph(AgentState, input_schema=AgentInput, output_schema=AgentOutput)
    builder.add_node("retrieve", retrieve)
    builder.add_node("act", act)
    builder.add_node("answer", answer)
    builder.add_edge(START, "retrieve")
    builder.add_conditional_edges("retrieve", needs_action, ["act", "answer"])
    builder.add_edge("act", "answer")
    builder.add_edge("answer", END)
    return builder.compile(name="fast")
