"""Pieces the three agent subgraphs share: their state, retrieval, metered model calls, tool loops.

Every agent is built by a function that takes the graph's :class:`Dependencies`, so what it calls
(models, retriever, customer database) is injected, never looked up in process globals.
"""

from __future__ import annotations

import contextlib
import operator
import re
import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.config import get_stream_writer
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.runtime import Runtime
from langgraph.types import Command
from typing_extensions import TypedDict  # pydantic (Studio schemas) needs it on 3.11

from switchyard.classifier.schema import Classification
from switchyard.core.context import Context
from switchyard.core.domain import reads_account, tools_for
from switchyard.deps import Dependencies
from switchyard.llm.accounting import usage_record
from switchyard.llm.answers import REPETITION, is_unusable
from switchyard.llm.waits import collect_waits
from switchyard.tools import TOOLS_BY_NAME
from switchyard.tools.common import ACCOUNTS_ARG

# Answers that stop at max tokens, or were cut at a repetition, are marked truncated (and so
# never cached).
_TRUNCATED_REASONS = {"length", "max_tokens", REPETITION}
# A small model's answer cut by its budget is kept to its last whole sentence (or line).
_LAST_SENTENCE = re.compile(r".*[.!?](?=[\s\])*_]|$)|.*\n", re.S)
# Tag on the model call whose tokens are the user-facing answer (the service streams only these).
ANSWER_TAG = "switchyard:answer"


class AgentInput(TypedDict, total=False):
    """What an agent reads from the parent graph."""

    request: str
    history: list[str]
    conversation: list[AnyMessage]
    classification: Classification


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
    provenance: dict[str, Any]


class AgentState(AgentInput, total=False):
    answer: str
    agent: str
    model: str
    sources: list[dict[str, Any]]
    outcome: dict[str, bool]
    provenance: dict[str, Any]
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


def classification_of(state: AgentState) -> Classification | None:
    cls = state.get("classification")
    if isinstance(cls, dict):  # a checkpoint written by a client that sent plain JSON
        return Classification.model_validate(cls)
    return cls


def is_follow_up(state: AgentState) -> bool:
    cls = classification_of(state)
    return bool(cls and cls.follow_up) and bool(state.get("history"))


def search_query(state: AgentState) -> str:
    """What to retrieve for: a follow-up ("and how do I fix it?") carries its conversation."""
    if is_follow_up(state):
        return f"{state['history'][-1]} {state['request']}"
    return state["request"]


def conversation(state: AgentState) -> list[BaseMessage]:
    """Earlier turns (user and assistant, already trimmed to budget) then this request."""
    return [*(state.get("conversation") or []), HumanMessage(state["request"])]


def elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 2)


def context_of(runtime: Runtime[Context] | None) -> Context:
    ctx = runtime.context if runtime is not None else None
    if isinstance(ctx, dict):  # Studio and the API send the context as JSON
        return Context(**{k: v for k, v in ctx.items() if k in Context.__dataclass_fields__})
    return ctx or Context()


async def retrieve_passages(deps: Dependencies, request: str) -> list[dict[str, Any]]:
    """Top-k help-center passages; the request's embedding comes from the shared embedder cache."""
    embedding = await deps.embedder.aembed_one(request)
    passages = await deps.retriever.asearch(request, embedding=embedding)
    return [p.model_dump() for p in passages]


def sources_of(passages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"source": p["source"], "title": p["title"], "url": p["url"], "score": round(p["score"], 4)}
        for p in passages
    ]


class UnusableAnswer(RuntimeError):
    """The model returned nothing usable (even with a larger budget, for a model that gets a
    retry): the tier has failed (the graph hands the request to another tier). ``usage``: the
    billed call(s), folded into one usage line."""

    def __init__(self, message: str, usage: dict[str, Any]) -> None:
        super().__init__(message)
        self.usage = usage


async def call_model(
    deps: Dependencies,
    tier: str,
    step: str,
    messages: Sequence[BaseMessage],
    runtime: Runtime[Context] | None,
    *,
    tools: Sequence[BaseTool] | None = None,
    answer: bool = False,
) -> tuple[AIMessage, dict[str, Any], float]:
    """One metered model call: concurrency cap per tier, usage record, wall time.

    ``step`` travels in the call's metadata (the offline model reads it to know what it is asked
    for); ``answer`` tags the call whose tokens are the user-facing answer. An empty answer, or
    one cut off by the completion budget (a reasoning model can spend all of it on hidden
    reasoning), is never passed on: the call is retried once with twice the budget, and if that
    is unusable too, :class:`UnusableAnswer` makes the tier fail over.

    A small model (catalogue ``small``) gets one attempt: given more room it only repeats itself
    longer. Its answer cut by the budget is kept to its last whole sentence, marked truncated;
    one cut at a repetition (``finish_reason="repetition"``) is marked truncated too.
    """
    override = context_of(runtime).model_override(tier)
    tags = [f"tier:{tier}", *([ANSWER_TAG] if answer else [])]
    price = deps.models.price(tier, override)
    small = deps.models.rules(tier, override).small
    attempts = [deps.models.chat_model(tier, override=override)]
    if not small:
        attempts.append(deps.models.with_budget(tier, 2.0, override=override))
    records: list[dict[str, Any]] = []
    start = time.perf_counter()
    for attempt, model in enumerate(attempts):
        runnable = model.bind_tools(list(tools)) if tools else model
        with collect_waits() as waits:
            asked = time.perf_counter()
            async with deps.models.slot(tier):
                waits.slot_s = time.perf_counter() - asked
                message = await runnable.ainvoke(
                    list(messages),
                    config={"run_name": f"{tier}.{step}", "tags": tags,
                            "metadata": {"switchyard_tier": tier, "switchyard_step": step}},
                )
        if not isinstance(message, AIMessage):  # pragma: no cover - defensive for custom models
            message = AIMessage(content=str(message.content))
        record = usage_record(f"{tier}.{step}", tier, price, message, prompt=messages)
        # Wall time of the call and the part of it spent waiting for the tier's limits.
        record.update(wall_ms=elapsed_ms(asked), slot_wait_ms=round(waits.slot_s * 1000.0, 2),
                      rate_limit_wait_ms=round(waits.rate_limit_s * 1000.0, 2))
        if (message.response_metadata or {}).get("finish_reason") == REPETITION:
            record["repetition_cut"] = True
        problem = is_unusable(message)
        if problem is None:
            if attempt:
                record["retried_after"] = records[-1]["unusable"]
            return message, _fold_billed(record, records), elapsed_ms(start)
        if problem == "length" and (attempt or small) and str(message.content).strip():
            # Even twice the budget ran out (or a small model's one budget), but there is text:
            # answer with it, marked truncated (never cached), rather than failing the tier.
            if small:
                kept = _LAST_SENTENCE.match(str(message.content))
                if kept and kept.group(0).strip():
                    message.content = kept.group(0).rstrip()
            if attempt:
                record["retried_after"] = "length"
            record["truncated"] = True
            return message, _fold_billed(record, records), elapsed_ms(start)
        record["unusable"] = problem
        records.append(record)
        if answer and attempt + 1 < len(attempts):
            # Whatever streamed of this attempt is not the answer: tell the client.
            with contextlib.suppress(RuntimeError):
                get_stream_writer()({"event": "reset", "reason": f"retry: answer was {problem}"})
    last = records.pop()
    how = ("twice, the second time with twice the budget" if len(attempts) > 1
           else "(a small model: not retried with a bigger budget)")
    raise UnusableAnswer(f"{tier}.{step}: the model's answer was {last['unusable']} {how}",
                         _fold_billed(last, records))


def _fold_billed(record: dict[str, Any], earlier: list[dict[str, Any]]) -> dict[str, Any]:
    """An unusable first attempt was billed too: fold its tokens and cost into this call's line."""
    for prior in earlier:
        for key in ("input_tokens", "output_tokens", "reasoning_tokens", "cost_usd", "wall_ms",
                    "slot_wait_ms", "rate_limit_wait_ms"):
            record[key] = record.get(key, 0) + prior.get(key, 0)
    return record


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


def model_name(deps: Dependencies, message: AIMessage, tier: str) -> str:
    meta = message.response_metadata or {}
    return str(meta.get("model_name") or deps.settings.tier(tier).model)


def allowed_tool_names(state: AgentState, tier: str, runtime: Runtime[Context] | None) -> list[str]:
    """The tools this request may use: its intent's own plus the public ones (see domain)."""
    cls = classification_of(state)
    return tools_for(tier, cls.intent if cls else None,
                     signed_in=bool(context_of(runtime).user_id))


def request_tools(state: AgentState, tier: str, runtime: Runtime[Context] | None) -> list[BaseTool]:
    return [TOOLS_BY_NAME[n] for n in allowed_tool_names(state, tier, runtime)]


def tool_node(deps: Dependencies, tier: str, tools: Sequence[BaseTool]) -> ToolNode:
    """A ToolNode that runs only the tools this request was given, against the injected database.

    The model only sees the request's tools, but a model can still name any tool (a prompt
    injection, a hallucination): such calls are refused here, before any code runs.
    """

    async def guard(request: ToolCallRequest, execute: Any) -> ToolMessage | Command:
        allowed = allowed_tool_names(request.state, tier, request.runtime)
        name = request.tool_call["name"]
        if name not in allowed:
            return ToolMessage(
                content=f"ERROR: the tool {name!r} is not available for this request.",
                name=name, tool_call_id=request.tool_call["id"], status="error")
        return as_tool_error(await execute(with_accounts(request, deps)), name)

    return ToolNode(list(tools), handle_tool_errors=True, messages_key="work",
                    awrap_tool_call=guard)


# A tool's output the agent may not be able to use: nothing, or more than a model should read.
MAX_TOOL_OUTPUT_CHARS = 20_000


def as_tool_error(result: ToolMessage | Command, name: str) -> ToolMessage | Command:
    """Whatever a tool did, the agent gets a string, and a failure starts with ``ERROR:``.

    A domain pack's tool may raise (the tool node turns that into an error message in its own
    words) or return garbage (nothing, or a flood): both become one clear ``ERROR:`` line the
    agent relays, never a crash and never the raw output."""
    if not isinstance(result, ToolMessage):
        return result
    content = result.content if isinstance(result.content, str) else str(result.content)
    text = content.strip()
    if text.startswith("ERROR:"):
        return result
    problem = None
    if result.status == "error":
        first = text.splitlines()[0] if text else "no detail"
        problem = f"the tool {name!r} failed ({first[:300]})"
    elif not text or text in ("null", "None", "[]", "{}"):
        problem = f"the tool {name!r} returned nothing usable"
    elif len(text) > MAX_TOOL_OUTPUT_CHARS:
        problem = f"the tool {name!r} returned {len(text):,} characters, more than an answer can use"
    if problem is None:
        return result
    return ToolMessage(content=f"ERROR: {problem}; tell the customer it is unavailable right now.",
                       name=result.name, tool_call_id=result.tool_call_id, status="error")


def with_accounts(request: ToolCallRequest, deps: Dependencies) -> ToolCallRequest:
    """The call with the graph's customer database in the state the tool sees, from which
    LangGraph fills the tools' hidden ``accounts`` argument (a model cannot supply it)."""
    return request.override(state={**(request.state or {}), ACCOUNTS_ARG: deps.database})


async def inject_accounts(deps: Dependencies, request: ToolCallRequest,
                          execute: Any) -> ToolMessage | Command:
    """An ``awrap_tool_call`` for tool nodes that run fixed steps: only the injection (and a
    failure made an ``ERROR:`` message)."""
    return as_tool_error(await execute(with_accounts(request, deps)), request.tool_call["name"])


async def tool_loop_turn(
    deps: Dependencies, tier: str, state: AgentState, runtime: Runtime[Context], *, answer: bool
) -> tuple[dict[str, Any], AIMessage]:
    """One model turn of a tool-calling loop; on the last allowed round no tools are bound, so
    the model must answer. ``answer``: the turn without tool calls is the user-facing answer."""
    rounds = state.get("tool_rounds", 0)
    tools = request_tools(state, tier, runtime) if deps.settings.tier(tier).supports_tools else []
    bound = tools if tools and rounds < deps.settings.max_tool_iterations else None
    message, usage, ms = await call_model(deps, tier, f"agent_{rounds}", state["work"], runtime,
                                          tools=bound, answer=answer)
    update = {"work": [message], "tool_rounds": rounds + 1, "tools_used": tools_called(message),
              "usage": [usage], "timings": {f"{tier}.agent_{rounds}": ms}}
    return update, message


def has_tool_calls(state: AgentState) -> bool:
    last = state["work"][-1]
    return isinstance(last, AIMessage) and bool(last.tool_calls)


def conversation_used(state: AgentState) -> bool:
    """The run saw the conversation: earlier turns in the prompt (every tier puts them there), or
    a follow-up's retrieval query built from the previous turn."""
    return bool(state.get("conversation")) or is_follow_up(state)


AnswerSource = Literal["model", "extractive", "fixed"]


def provenance(state: AgentState, *, account: bool, tools: Sequence[str],
               passages: bool | None = None, answer_source: AnswerSource = "model"
               ) -> dict[str, Any]:
    """What an answer was built from; ``cache_store`` decides where it may be kept from this
    alone (``switchyard.cache.policy.storage_scope``): ``inputs`` names every kind of input the
    prompt held. ``answer_source``: the model's answer, the extractive answer that replaced an
    ungrounded one, or a fixed text (a small model's out-of-scope deflection)."""
    used = sorted(set(tools))
    account_data = bool(account) or reads_account(used)
    conversation = conversation_used(state)
    if passages is None:
        passages = bool(state.get("passages"))
    inputs = ["request"]
    if conversation:
        inputs.append("conversation")
    if account_data:
        inputs.append("account")
    if passages:
        inputs.append("passages")
    if used:
        inputs.append("account_tools" if reads_account(used) else "public_tools")
    return {"account_data": account_data, "conversation": conversation, "tools": used,
            "inputs": inputs, "answer_source": answer_source}
