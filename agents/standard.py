"""Standard agent (mid model, RAG + basic tools): retrieve -> tool loop -> answer."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime
from switchyard.agents.common import (
    AgentInput,
    AgentOutput,
    AgentState,
    elapsed_ms,
    has_tool_calls,
    is_truncated,
    model_name,
    question,
    retrieve_passages,
    search_query,
    sources_of,
    tool_failed,
    tool_loop_turn,
)
from switchyard.agents.prompts import STANDARD_SYSTEM, render_passages
from switchyard.graph.context import Context
from switchyard.tools import BASIC_TOOLS

TIER = "standard"


async def retrieve(state: AgentState) -> dict[str, Any]:
    start = time.perf_counter()
    passages = await retrieve_passages(search_query(state))
    system = STANDARD_SYSTEM + "\n\n" + render_passages(passages)
    return {"passages": passages, "sources": sources_of(passages),
            "work": [SystemMessage(system), HumanMessage(question(state))],
            "timings": {"standard.retrieve": elapsed_ms(start)}}


async def agent(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    update, _ = await tool_loop_turn(TIER, BASIC_TOOLS, state, runtime)
    return update


def after_agent(state: AgentState) -> str:
    return "tools" if has_tool_calls(state) else "answer"


def answer(state: AgentState) -> dict[str, Any]:
    """The model's last turn (no tool calls) is the answer; record how it went."""
    last = state["work"][-1]
    assert isinstance(last, AIMessage)
    return {"answer": str(last.content), "agent": TIER, "model": model_name(last, TIER),
            "outcome": {"tool_failed": tool_failed(state["work"]), "truncated": is_truncated(last)}}


builder = StateGraph(AgentState, input_schema=AgentInput, output_schema=AgentOutput)
builder.add_node("retrieve", retrieve)
builder.add_node("agent", agent)
builder.add_node("tools", ToolNode(BASIC_TOOLS, handle_tool_errors=True, messages_key="work"))
builder.add_node("answer", answer)
builder.add_edge(START, "retrieve")
builder.add_edge("retrieve", "agent")
builder.add_conditional_edges("agent", after_agent, ["tools", "answer"])
builder.add_edge("tools", "agent")
builder.add_edge("answer", END)
standard_agent = builder.compile(name="standard")
