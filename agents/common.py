"""Pieces the three agent subgraphs share: their state, retrieval, metered model calls, tool loops."""

from __future__ import annotations

import asyncio
import operator
import time
from collections.abc import Sequence
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime
from switchyard.graph.context import Context
from typing_extensions import TypedDict  # pydantic (Studio schemas) needs it on 3.11

from switchyard.accounting import usage_record
from switchyard.llm import chat_model_for, tier_gate
from switchyard.settings import get_settings

# Answers that stop at max tokens are marked truncated (and so never cached).
_TRUNCATED_REASONS = {"length", "max_tokens"}


class AgentInput(TypedDict, total=False):
    """What an agent reads from the parent graph."""

    request: str
    history: list[str]
    classification: dict[str, Any]


class AgentOutput(TypedDict, total=False):
    """What an agent hands back; only this crosses into the parent graph."""

    answer: str
    agent: str
    model: str
    tools_used: list[str]
    sources: list[dict[str, Any]]
    usage: list[dict[str, Any]]
    timings: dict[str, float]
    outcome: dict[str, bool]


class AgentState(AgentInput, total=False):
    answer: str
    agent: str
    model: str
    sources: list[dict[str, Any]]
    outcome: dict[str, bool]
    # Private working state: never leaves the subgraph.
    work: Annotated[list[AnyMessage], add_messages]
    passages: list[dict[str, Any]]
    account: dict[str, Any] | None
    action: str
    plan: str
    draft: str
    review: str
    tool_rounds: int
    tools_used: Annotated[list[str], operator.add]
    usage: Annotated[list[dict[str, Any]], operator.add]
    timings: Annotated[dict[str, float], lambda a, b: {**(a or {}), **(b or {})}]


def is_follow_up(state: AgentState) -> bool:
    return bool((state.get("classification") or {}).get("follow_up")) and bool(state.get("history"))


def search_query(state: AgentState) -> str:
    """What to retrieve for: a follow-up ("and how do I fix it?") carries its conversation."""
    if is_follow_up(state):
        return f"{state['history'][-1]} {state['request']}"
    return state["request"]


def question(state: AgentState) -> str:
    """The request as the model should read it, with earlier turns for follow-ups."""
    if is_follow_up(state):
        earlier = "\n".join(f"- {h}" for h in state["history"])
        return f"Earlier in this conversation the customer asked:\n{earlier}\n\nFollow-up: {state['request']}"
    return state["request"]


def elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 2)


async def retrieve_passages(request: str) -> list[dict[str, Any]]:
    """Top-k help-center passages; the request's embedding comes from the shared embedder cache."""
    from switchyard.knowledge.retriever import get_retriever

    from switchyard.embeddings import get_embedder

    embedding = await get_embedder().aembed_one(request)
    retriever = await asyncio.to_thread(get_retriever)
    passages = await retriever.asearch(request, embedding=embedding)
    return [p.model_dump() for p in passages]


def sources_of(passages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"source": p["source"], "title": p["title"], "url": p["url"], "score": round(p["score"], 4)}
        for p in passages
    ]


async def call_model(
    tier: str,
    step: str,
    messages: Sequence[BaseMessage],
    runtime: Runtime[Context],
    *,
    tools: Sequence[BaseTool] | None = None,
) -> tuple[AIMessage, dict[str, Any], float]:
    """One metered model call: concurrency cap per tier, usage record, wall time."""
    settings = get_settings()
    cfg = settings.tier(tier)
    ctx = runtime.context or Context()
    model = chat_model_for(tier, override=ctx.model_override(tier))
    runnable = model.bind_tools(list(tools)) if tools else model
    start = time.perf_counter()
    async with tier_gate(tier, cfg.max_concurrency).semaphore():
        message = await runnable.ainvoke(
            list(messages), config={"run_name": f"{tier}.{step}", "tags": [f"tier:{tier}"]}
        )
    if not isinstance(message, AIMessage):  # pragma: no cover - defensive for custom models
        message = AIMessage(content=str(message.content))
    return message, usage_record(f"{tier}.{step}", tier, cfg, message), elapsed_ms(start)


def is_truncated(message: AIMessage) -> bool:
    meta = message.response_metadata or {}
    return meta.get("finish_reason") in _TRUNCATED_REASONS


def tool_failed(messages: Sequence[BaseMessage]) -> bool:
    return any(
        isinstance(m, ToolMessage)
        and (m.status == "error" or str(m.content).lstrip().upper().startswith("ERROR"))
        for m in messages
    )


def tools_called(message: AIMessage) -> list[str]:
    return [c["name"] for c in message.tool_calls]


def model_name(message: AIMessage, tier: str) -> str:
    meta = message.response_metadata or {}
    return str(meta.get("model_name") or get_settings().tier(tier).model)


async def tool_loop_turn(
    tier: str, tools: Sequence[BaseTool], state: AgentState, runtime: Runtime[Context]
) -> tuple[dict[str, Any], AIMessage]:
    """One model turn of a tool-calling loop; on the last allowed round no tools are bound, so
    the model must answer."""
    rounds = state.get("tool_rounds", 0)
    bound = tools if rounds < get_settings().max_tool_iterations else None
    message, usage, ms = await call_model(tier, f"agent_{rounds}", state["work"], runtime, tools=bound)
    update = {"work": [message], "tool_rounds": rounds + 1, "tools_used": tools_called(message),
              "usage": [usage], "timings": {f"{tier}.agent_{rounds}": ms}}
    return update, message


def has_tool_calls(state: AgentState) -> bool:
    last = state["work"][-1]
    return isinstance(last, AIMessage) and bool(last.tool_calls)
