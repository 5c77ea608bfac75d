"""Expert agent (large reasoning model, RAG + tools + explicit reasoning):
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
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from switchyard.agents import prompts
from switchyard.agents.common import (
    AgentInput,
    AgentOutput,
    AgentState,
    call_model,
    conversation,
    elapsed_ms,
    has_tool_calls,
    is_truncated,
    model_name,
    provenance,
    request_tools,
    retrieve_passages,
    search_query,
    sources_of,
    tool_failed,
    tool_loop_turn,
    tool_node,
)
from switchyard.agents.prompts import (
    render_passages,
    render_tool_list,
)
from switchyard.core.context import Context
from switchyard.core.domain import Tier, tier_tool_names
from switchyard.deps import Dependencies
from switchyard.tools import TOOLS_BY_NAME

TIER = Tier.EXPERT


def _evidence(state: AgentState) -> str:
    tool_results = "\n\n".join(
        f"{m.name}:\n{m.content}" for m in state.get("work", []) if isinstance(m, ToolMessage)
    )
    return tool_results + "\n\n" + render_passages(state.get("passages") or [])


def build_expert_agent(deps: Dependencies) -> CompiledStateGraph:
    async def plan(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        tools = request_tools(state, TIER, runtime)
        system = prompts.current().EXPERT_PLAN_SYSTEM.format(tool_list=render_tool_list(tools) or "(none)")
        messages = [SystemMessage(system), *conversation(state)]
        message, usage, ms = await call_model(deps, TIER, "plan", messages, runtime)
        return {"plan": str(message.content), "usage": [usage], "timings": {"expert.plan": ms}}

    async def retrieve(state: AgentState) -> dict[str, Any]:
        start = time.perf_counter()
        passages = await retrieve_passages(deps, search_query(state))
        system = (f"{prompts.current().EXPERT_AGENT_SYSTEM}\n\n<plan>\n{state.get('plan', '')}\n</plan>\n\n"
                  + render_passages(passages))
        return {"passages": passages, "sources": sources_of(passages),
                "work": [SystemMessage(system), *conversation(state)],
                "timings": {"expert.retrieve": elapsed_ms(start)}}

    async def agent(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        update, message = await tool_loop_turn(deps, TIER, state, runtime, answer=False)
        if not message.tool_calls:
            update["draft"] = str(message.content)
        return update

    def after_agent(state: AgentState) -> str:
        return "tools" if has_tool_calls(state) else "reflect"

    async def reflect(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        review = (f"<draft>\n{state.get('draft', '')}\n</draft>\n\n"
                  f"<evidence>\n{_evidence(state)}\n</evidence>")
        messages = [SystemMessage(prompts.current().EXPERT_REFLECT_SYSTEM), HumanMessage(review)]
        message, usage, ms = await call_model(deps, TIER, "reflect", messages, runtime)
        return {"review": str(message.content), "usage": [usage], "timings": {"expert.reflect": ms}}

    async def synthesize(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        brief = (f"<question>\n{state['request']}\n</question>\n"
                 f"<plan>\n{state.get('plan', '')}\n</plan>\n"
                 f"<draft>\n{state.get('draft', '')}\n</draft>\n"
                 f"<review>\n{state.get('review', '')}\n</review>")
        messages = [SystemMessage(prompts.current().EXPERT_SYNTHESIZE_SYSTEM), HumanMessage(brief)]
        message, usage, ms = await call_model(deps, TIER, "synthesize", messages, runtime,
                                              answer=True)
        return {"answer": str(message.content), "agent": TIER.value,
                "model": model_name(deps, message, TIER),
                "usage": [usage], "timings": {"expert.synthesize": ms},
                "outcome": {"tool_failed": tool_failed(state.get("work", [])),
                            "truncated": is_truncated(message)},
                "provenance": provenance(state, account=False,
                                         tools=state.get("tools_used") or [])}

    tools = [TOOLS_BY_NAME[n] for n in tier_tool_names(TIER)]
    builder = StateGraph(AgentState, input_schema=AgentInput, output_schema=AgentOutput)
    builder.add_node("plan", plan)
    builder.add_node("retrieve", retrieve)
    builder.add_node("agent", agent)
    builder.add_node("tools", tool_node(deps, TIER, tools))
    builder.add_node("reflect", reflect)
    builder.add_node("synthesize", synthesize)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "retrieve")
    builder.add_edge("retrieve", "agent")
    builder.add_conditional_edges("agent", after_agent, ["tools", "reflect"])
    builder.add_edge("tools", "agent")
    builder.add_edge("reflect", "synthesize")
    builder.add_edge("synthesize", END)
    return builder.compile(name="expert")
