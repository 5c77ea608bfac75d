"""Standard agent (mid model, RAG + basic tools): retrieve -> tool loop -> answer.

The model is offered only the tools its request may need (its intent's plus the public ones);
the tool node refuses any other call, whatever the model asks for.
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import AIMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from switchyard.agents import prompts
from switchyard.agents.common import (
    AgentInput,
    AgentOutput,
    AgentState,
    conversation,
    elapsed_ms,
    has_tool_calls,
    is_truncated,
    model_name,
    provenance,
    retrieve_passages,
    search_query,
    sources_of,
    tool_failed,
    tool_loop_turn,
    tool_node,
)
from switchyard.agents.prompts import render_passages
from switchyard.core.context import Context
from switchyard.core.domain import Tier, tier_tool_names
from switchyard.deps import Dependencies
from switchyard.tools import TOOLS_BY_NAME

TIER = Tier.STANDARD


def build_standard_agent(deps: Dependencies) -> CompiledStateGraph:
    async def retrieve(state: AgentState) -> dict[str, Any]:
        start = time.perf_counter()
        passages = await retrieve_passages(deps, search_query(state))
        system = prompts.current().STANDARD_SYSTEM + "\n\n" + render_passages(passages)
        return {"passages": passages, "sources": sources_of(passages),
                "work": [SystemMessage(system), *conversation(state)],
                "timings": {"standard.retrieve": elapsed_ms(start)}}

    async def agent(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        update, _ = await tool_loop_turn(deps, TIER, state, runtime, answer=True)
        return update

    def after_agent(state: AgentState) -> str:
        return "tools" if has_tool_calls(state) else "answer"

    def answer(state: AgentState) -> dict[str, Any]:
        """The model's last turn (no tool calls) is the answer; record how it went."""
        last = state["work"][-1]
        assert isinstance(last, AIMessage)
        return {"answer": str(last.content), "agent": TIER.value,
                "model": model_name(deps, last, TIER),
                "outcome": {"tool_failed": tool_failed(state["work"]), "truncated": is_truncated(last)},
                "provenance": provenance(state, account=False,
                                         tools=state.get("tools_used") or [])}

    tools = [TOOLS_BY_NAME[n] for n in tier_tool_names(TIER)]
    builder = StateGraph(AgentState, input_schema=AgentInput, output_schema=AgentOutput)
    builder.add_node("retrieve", retrieve)
    builder.add_node("agent", agent)
    builder.add_node("tools", tool_node(deps, TIER, tools))
    builder.add_node("answer", answer)
    builder.add_edge(START, "retrieve")
    builder.add_edge("retrieve", "agent")
    builder.add_conditional_edges("agent", after_agent, ["tools", "answer"])
    builder.add_edge("tools", "agent")
    builder.add_edge("answer", END)
    return builder.compile(name="standard")
