"""Fast agent (small model, RAG only): retrieve -> [act] -> answer. No tool-calling loop.

Per DESIGN.md's reading of the article: the fast agent's retrieval covers the help center *and* the
signed-in customer's read-only account snapshot, so lookups ("what's my balance?") need no tools.
Actions the classification asked for (a password reset) run as fixed steps after identity
verification, with no model choosing tools. Out-of-scope requests get a one-call deflection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import time
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime

from switchyard.agents import prompts
from switchyard.agents.common import (
    AgentInput,
    AgentOutput,
    AgentState,
    UnusableAnswer,
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
from switchyard.agents.prompts import (
    render_account,
    render_passages,
    render_small_context,
)
from switchyard.core.context import Context
from switchyard.core.domain import INTENTS, Tier, fixed_actions
from switchyard.deps import Dependencies
from switchyard.llm.grounding import check_grounding, extractive_answer
from switchyard.tools import (
    TOOLS_BY_NAME,
    ToolAuthError,
    account_snapshot,
    has_account_snapshot,
)

TIER = Tier.FAST
NO_USER_NOTE = "nobody is signed in; sign in to see account details"
# "What name is on my account?": the only request whose answer may carry the user's name.
_ASKS_OWN_NAME = re.compile(r"\b(?:my|own)\s+(?:full\s+)?name\b|\bwho am i\b", re.IGNORECASE)


def build_fast_agent(deps: Dependencies) -> CompiledStateGraph:
    # Every tool any intent's fixed actions use, in one ToolNode (it injects the caller's runtime).
    action_names = sorted({name for i in INTENTS.values() for name, _ in i.fixed_actions})
    action_tools = ToolNode([TOOLS_BY_NAME[n] for n in action_names],
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
        if cls is not None and cls.requires_auth and has_account_snapshot():
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
        passages = state.get("passages") or []
        action = state.get("action") or ""
        # Anything read for the signed-in user (a snapshot, or why it could not be read) is theirs.
        account = state.get("account") or {}
        account_used = bool(account) and account.get("account_note") != NO_USER_NOTE
        prov = provenance(state, account=account_used, tools=state.get("tools_used") or [])
        small = deps.models.rules(TIER, context_of(runtime).model_override(TIER)).small
        out_of_scope = cls is not None and cls.in_scope is False
        if out_of_scope and small:
            return {"answer": prompts.current().SMALL_DEFLECTION, "agent": TIER.value,
                    "model": deps.settings.tier(TIER).model, "usage": [],
                    "outcome": {**(state.get("outcome") or {}), "truncated": False},
                    "timings": {"fast.answer": 0.0},
                    "provenance": {**prov, "answer_source": "fixed"}}
        step = "deflect" if out_of_scope else "answer"
        messages: list[BaseMessage]
        if out_of_scope:
            messages = [SystemMessage(prompts.current().DEFLECT_SYSTEM), *conversation(state)]
        elif small:
            # A short instruction and only the lines that matter, in one user turn (a
            # follow-up's earlier turn is already in the search query).
            messages = [SystemMessage(prompts.current().FAST_SYSTEM_SMALL), HumanMessage(render_small_context(
                search_query(state), passages, account, action))]
        else:
            context = "\n".join(
                part for part in (
                    render_passages(passages),
                    render_account(state.get("account")),
                    f"<action>\n{action}\n</action>" if action else "",
                ) if part
            )
            messages = [SystemMessage(prompts.current().FAST_SYSTEM + "\n\n" + context), *conversation(state)]
        start = time.perf_counter()
        try:
            message, usage, ms = await call_model(deps, TIER, step, messages, runtime, answer=True)
        except UnusableAnswer as exc:
            if not small or out_of_scope:
                raise
            # A small model's empty answer: the extractive answer below replaces it, as it
            # would replace an ungrounded one, instead of failing over to a dearer tier.
            message = AIMessage(content="", response_metadata={"finish_reason": "empty"})
            usage, ms = exc.usage, elapsed_ms(start)
        text = str(message.content)
        outcome = {**(state.get("outcome") or {}), "truncated": is_truncated(message)}
        if not out_of_scope:
            # Grounded or not shown, whatever the provider: an answer that does not use its
            # passages and facts is replaced by the extractive answer built from them (and the
            # cache never stores it: outcome "ungrounded").
            facts = [f"{k}: {v}" for k, v in account.items() if v is not None]
            facts += [action] if action else []
            question = search_query(state)
            verdict = check_grounding(text, passages, facts, question=question)
            prov["grounding"] = verdict.to_dict()
            if not verdict.ok:
                text = extractive_answer(question, passages, account or None, action)
                prov["answer_source"] = "extractive"
                outcome["ungrounded"] = True
                with contextlib.suppress(RuntimeError):  # no stream writer outside a run
                    get_stream_writer()({"event": "reset",
                                         "reason": "ungrounded: replaced by the extractive answer"})
        return {"answer": text, "agent": TIER.value,
                "model": model_name(deps, message, TIER), "usage": [usage], "outcome": outcome,
                "timings": {"fast.answer": ms}, "provenance": prov}

    builder = StateGraph(AgentState, input_schema=AgentInput, output_schema=AgentOutput)
    builder.add_node("retrieve", retrieve)
    builder.add_node("act", act)
    builder.add_node("answer", answer)
    builder.add_edge(START, "retrieve")
    builder.add_conditional_edges("retrieve", needs_action, ["act", "answer"])
    builder.add_edge("act", "answer")
    builder.add_edge("answer", END)
    return builder.compile(name="fast")
