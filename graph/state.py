"""Graph state: a narrow input (the conversation) and a full state that tells the request's story.

Per-turn lists (usage, tools, timings) use reducers that the ``intake`` node resets at the start of
each turn, so a thread kept by a checkpointer does not carry one turn's costs into the next.
"""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

# typing_extensions' TypedDict: pydantic (which builds Studio's input/output schemas) rejects
# typing.TypedDict on Python < 3.12, and Studio then shows no input form.
from typing_extensions import TypedDict

from switchyard.classifier.schema import Classification

RESET = "__reset__"


def add_per_turn(left: list | None, right: list | None) -> list:
    """Append, unless the update starts with ``RESET`` (then it replaces)."""
    if right and right[0] == RESET:
        return list(right[1:])
    return (left or []) + (right or [])


def merge_per_turn(left: dict | None, right: dict | None) -> dict:
    """Merge dicts, unless the update holds ``RESET`` (then it replaces)."""
    if right and RESET in right:
        return {k: v for k, v in right.items() if k != RESET}
    return {**(left or {}), **(right or {})}


class InputState(TypedDict):
    """What a caller sends: the conversation (the last human message is the request)."""

    messages: Annotated[list[AnyMessage], add_messages]


class Flight(TypedDict):
    """A single-flight ticket as plain data: whoever ends the run releases it by key and token;
    if nobody does, its lease runs out (see ``switchyard.cache.singleflight``)."""

    key: str
    token: str


class State(InputState, total=False):
    request: str                      # the request text, validated
    history: list[str]                # earlier user turns in this thread (for follow-ups)
    conversation: list[AnyMessage]    # earlier turns, user and assistant, for the agents
    started_at: float                 # wall clock at intake (epoch seconds)
    classification: Classification   # complexity, intent, confidence, scores, tools_needed, ...
    cache: dict[str, Any]             # verdict: hit, similarity, match, partition, entry_age_s, reason
    flight: Flight | None             # single-flight ticket held between cache_lookup and cache_store
    route: str                        # tier chosen by the router (fast|standard|expert)
    route_reason: str | None          # why the route differs from the classification, if it does
    exploration: dict[str, Any] | None  # policy tier, explored?, propensity of the tier taken
    fallback_from: list[str]          # tiers whose provider failed this turn, in order
    fallback_reasons: list[str]       # why each of them failed (switchyard.llm.errors.failure_kind)
    agent: str                        # tier that produced the answer ("cache" parts noted in `cache`)
    model: str                        # model that produced the answer
    answer: str
    tools_used: Annotated[list[str], add_per_turn]
    sources: list[dict[str, Any]]     # {source, title, url, score}
    provenance: dict[str, Any]        # what the answer was built from: account data or not, tools
    usage: Annotated[list[dict[str, Any]], add_per_turn]   # one record per model call
    timings: Annotated[dict[str, float], merge_per_turn]   # ms per node / agent step
    outcome: dict[str, bool]          # errored / truncated / refused / tool_failed / strategic
    error: str | None                 # a user-facing error (bad input, provider failure)
    cost_usd: float
    counterfactual_usd: float         # had it gone to the expert, no cache (llm.accounting)
    tokens: dict[str, int]
    latency_ms: float
