"""Expert agent (large reasoning model, RAG + all tools + explicit reasoning):
plan -> retrieve -> tool loop -> reflect -> synthesize.

The tier's reasoning settings (``reasoning_effort``) are applied by the model factory when the
configured model supports them; the plan and the reflection are explicit steps either way, so the
trace shows how the answer was reached and checked.
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime
from switchyard.agents.common import (
    AgentInput,
    AgentOutput,
    AgentState,
    call_model,
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
from switchyard.agents.prompts import (
    EXPERT_AGENT_SYSTEM,
    EXPERT_PLAN_SYSTEM,
    EXPERT_REFLECT_SYSTEM,
    EXPERT_SYNTHESIZE_SYSTEM,
    render_passages,
    render_tool_list,
)
from switchyard.graph.context import Context
from switchyard.tools import ALL_TOOLS

TIER = "expert"


async def plan(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    system = EXPERT_PLAN_SYSTEM.format(tool_list=render_tool_list(ALL_TOOLS))
    messages = [SystemMessage(system), HumanMessage(question(state))]
    message, usage, ms = await call_model(TIER, "plan", messages, runtime)
    return {"plan": str(message.content), "usage": [usage], "timings": {"expert.plan": ms}}


async def retrieve(state: AgentState) -> dict[str, Any]:
    start = time.perf_counter()
    passages = await retrieve_passages(search_query(state))
    system = (f"{EXPERT_AGENT_SYSTEM}\n\n<plan>\n{state.get('plan', '')}\n</plan>\n\n"
              + render_passages(passages))
    return {"passages": passages, "sources": sources_of(passages),
            "work": [SystemMessage(system), HumanMessage(question(state))],
            "timings": {"expert.retrieve": elapsed_ms(start)}}


async def agent(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    update, message = await tool_loop_turn(TIER, ALL_TOOLS, state, runtime)
    if not message.tool_calls:
        update["draft"] = str(message.content)
    return update


def after_agent(state: AgentState) -> str:
    return "tools" if has_tool_calls(state) else "reflect"


def _evidence(state: AgentState) -> str:
    tool_results = "\n\n".join(
        f"{m.name}:\n{m.content}" for m in state.get("work", []) if isinstance(m, ToolMessage)
    )
    return tool_results + "\n\n" + render_passages(state.get("passages") or [])


async def reflect(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    question = (f"<draft>\n{state.get('draft', '')}\n</draft>\n\n"
                f"<evidence>\n{_evidence(state)}\n</evidence>")
    messages = [SystemMessage(EXPERT_REFLECT_SYSTEM), HumanMessage(question)]
    message, usage, ms = await call_model(TIER, "reflect", messages, runtime)
    return {"review": str(message.content), "usage": [usage], "timings": {"expert.reflect": ms}}


async def synthesize(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    question = (f"<question>\n{state['request']}\n</question>\n"
                f"<plan>\n{state.get('plan', '')}\n</plan>\n"
                f"<draft>\n{state.get('draft', '')}\n</draft>\n"
                f"<review>\n{state.get('review', '')}\n</review>")
    messages = [SystemMessage(EXPERT_SYNTHESIZE_SYSTEM), HumanMessage(question)]
    message, usage, ms = await call_model(TIER, "synthesize", messages, runtime)
    return {"answer": str(message.content), "agent": TIER, "model": model_name(message, TIER),
            "usage": [usage], "timings": {"expert.synthesize": ms},
            "outcome": {"tool_failed": tool_failed(state.get("work", [])),
                        "truncated": is_truncated(message)}}


builder = StateGraph(AgentState, input_schema=AgentInput, output_schema=AgentOutput)
builder.add_node("plan", plan)
builder.add_node("retrieve", retrieve)
builder.add_node("agent", agent)
builder.add_node("tools", ToolNode(ALL_TOOLS, handle_tool_errors=True, messages_key="work"))
builder.add_node("reflect", reflect)
builder.add_node("synthesize", synthesize)
builder.add_edge(START, "plan")
builder.add_edge("plan", "retrieve")
builder.add_edge("retrieve", "agent")
builder.add_conditional_edges("agent", after_agent, ["tools", "reflect"])
builder.add_edge("tools", "agent")
builder.add_edge("reflect", "synthesize")
builder.add_edge("synthesize", END)
expert_agent = builder.compile(name="expert")
