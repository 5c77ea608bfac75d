"""The parent graph's nodes. Agents live in ``agents/``; this is the routing around them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal, Optional

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from langgraph.types import Command
from switchyard.agents.common import is_follow_up
from switchyard.graph.context import Context
from switchyard.graph.state import RESET, State

from switchyard.settings import COMPLEXITY_FOR_TIER, TIERS, get_settings

Route = Literal["fast", "standard", "expert"]
# Single-flight tickets held between cache_lookup and cache_store, by flight id in the state.
_FLIGHTS: dict[str, Any] = {}
# Flight ids taken during the current run, so a run that fails before cache_store can release
# them (see ``release_flights_on_error``); node tasks inherit this list from the caller's context.
_RUN_FLIGHTS: ContextVar[list[str] | None] = ContextVar("switchyard_run_flights", default=None)


def release_flight(flight_id: str | None, stored: bool = False) -> None:
    """Wake requests waiting on this flight; a no-op for unknown or already released ids."""
    ticket = _FLIGHTS.pop(flight_id or "", None)
    if ticket is not None:
        from switchyard.cache import get_cache

        get_cache().release_flight(ticket, stored)


@contextmanager
def release_flights_on_error() -> Iterator[None]:
    """Wrap a graph run: if it raises after cache_lookup took a flight, release it at once, so
    identical requests waiting on it compute for themselves instead of waiting out the timeout."""
    taken: list[str] = []
    token = _RUN_FLIGHTS.set(taken)
    try:
        yield
    except BaseException:
        for flight_id in taken:
            release_flight(flight_id)
        raise
    finally:
        _RUN_FLIGHTS.reset(token)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 2)


def _text(message: Any) -> str:
    content = message.content
    if isinstance(content, list):  # multimodal content blocks: keep the text parts
        content = " ".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content)


async def intake(state: State) -> Command[Literal["classify", "respond"]]:
    """Validate the request before anything costs money; reset per-turn accounting."""
    start = time.perf_counter()
    settings = get_settings()
    humans = [m for m in state.get("messages", []) if isinstance(m, HumanMessage)]
    update: dict[str, Any] = {
        "started_at": time.time(), "usage": [RESET], "tools_used": [RESET],
        "error": None, "cache": {}, "classification": {},
        "answer": "", "agent": "", "model": "", "sources": [], "outcome": {},
    }
    request = _text(humans[-1]).strip() if humans else ""
    error = None
    if not humans:
        error = "No user message: send at least one human message."
    elif not request:
        error = "Your message is empty. Please type a question for Quillstack support."
    elif len(request) > settings.max_input_chars:
        error = (f"Your message is {len(request):,} characters; the limit is "
                 f"{settings.max_input_chars:,}. Please shorten it or split it into questions.")
    update["timings"] = {RESET: True, "intake": _ms(start)}
    if error:
        return Command(goto="respond", update={**update, "error": error, "request": request[:200]})
    history = [_text(m).strip() for m in humans[:-1]][-settings.classifier.history_turns:]
    return Command(goto="classify", update={**update, "request": request, "history": history})


_LOADED = False


async def _load_singletons() -> None:
    """First request in a process: load the embedder, classifier and cache in a worker thread.

    Their first use imports torch and reads weights and index files; on the event loop that stalls
    every request, and ``langgraph dev`` fails the run with ``BlockingError``.
    """
    global _LOADED
    if _LOADED:
        return

    def load() -> None:
        from switchyard.cache import get_cache
        from switchyard.classifier import get_classifier
        from switchyard.embeddings import get_embedder

        get_embedder()
        get_classifier()
        get_cache()

    await asyncio.to_thread(load)
    _LOADED = True


async def classify(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Local classifier on the request's embedding (computed once, shared with the cache)."""
    await _load_singletons()
    from switchyard.classifier import get_classifier
    from switchyard.embeddings import get_embedder

    start = time.perf_counter()
    embedding = await get_embedder().aembed_one(state["request"])
    result = await get_classifier().aclassify(
        state["request"], embedding=embedding, history=state.get("history") or []
    )
    classification = result.model_dump()
    route = classification["recommended_agent"]
    ctx = runtime.context or Context()
    if ctx.force_tier in TIERS:
        classification["forced_tier"] = ctx.force_tier
        route = ctx.force_tier
    update: dict[str, Any] = {"classification": classification, "route": route,
                              "timings": {"classify": _ms(start)}}
    if classification.get("cost_usd"):
        update["usage"] = [{
            "step": "classify", "tier": "classifier", "model": classification.get("classifier", ""),
            "input_tokens": classification.get("tokens", 0), "output_tokens": 0,
            "reasoning_tokens": 0, "cost_usd": classification["cost_usd"], "simulated_ms": 0.0,
        }]
    return update


def _partition(state: State, ctx: Context):
    from switchyard.agents.prompts import PROMPT_VERSION
    from switchyard.knowledge.ingest import kb_version
    from switchyard.tools import TOOLSET_VERSION

    from switchyard.cache import Partition, is_personal

    cls = state["classification"]
    # Conservative: a wrong "personal" only costs hit rate; a wrong "public" leaks an answer.
    personal = bool(cls.get("requires_auth")) or is_personal(cls.get("intent"), state["request"])
    return Partition.for_request(
        tenant=ctx.tenant, user_id=ctx.user_id, personal=personal,
        tier=state["route"], prompt_version=PROMPT_VERSION, toolset_version=TOOLSET_VERSION,
        kb_version=kb_version(),
    )


async def cache_lookup(state: State, runtime: Runtime[Context]) -> Command[Route | Literal["respond"]]:
    """Serve a safe repeat for free, or send the request on to its tier."""
    from switchyard.cache import cache_policy, get_cache
    from switchyard.embeddings import get_embedder

    start = time.perf_counter()
    settings = get_settings()
    ctx = runtime.context or Context()
    cls = state["classification"]
    route = state["route"]
    policy = cache_policy(complexity=COMPLEXITY_FOR_TIER[route], intent=cls.get("intent", ""),
                          in_scope=cls.get("in_scope", True), text=state["request"],
                          settings=settings.cache, intent_scores=cls.get("intent_scores"))
    # A follow-up ("yes, please do that") means what its conversation means: its text alone
    # is not a safe cache key.
    follow_up = is_follow_up(state)
    if follow_up or not (settings.cache.enabled and ctx.use_cache and policy.cacheable):
        reason = policy.reason
        if not (settings.cache.enabled and ctx.use_cache):
            reason = "cache disabled for this request"
        elif follow_up:
            reason = "skipped: follow-up depends on the conversation"
        verdict = {"hit": False, "similarity": None, "match": "none", "partition": None,
                   "entry_age_s": None, "reason": reason, "cacheable": False}
        return Command(goto=route, update={"cache": verdict, "timings": {"cache_lookup": _ms(start)}})

    cache = get_cache()
    partition = _partition(state, ctx)
    embedding = await get_embedder().aembed_one(state["request"])
    result = await cache.alookup(state["request"], embedding, partition)
    flight_id = None
    if not result.hit:
        ticket = await cache.acquire_flight(state["request"], partition)
        if not ticket.leader:
            # An identical request was in flight: its answer is cached now (or it failed).
            result = await cache.alookup(state["request"], embedding, partition)
            if not result.hit:
                ticket = await cache.acquire_flight(state["request"], partition)
        if not result.hit:
            flight_id = uuid.uuid4().hex
            _FLIGHTS[flight_id] = ticket
            run_flights = _RUN_FLIGHTS.get()
            if run_flights is not None:
                run_flights.append(flight_id)
    verdict = result.model_dump(exclude={"answer"})
    verdict.update(cacheable=True, ttl_s=policy.ttl_s, flight_id=flight_id)
    update: dict[str, Any] = {"cache": verdict, "timings": {"cache_lookup": _ms(start)}}
    if result.hit and result.answer is not None:
        cached = result.answer
        update.update(answer=cached.answer, agent=cached.agent, model=cached.model,
                      sources=cached.sources, tools_used=[])
        return Command(goto="respond", update=update)
    return Command(goto=route, update=update)


async def cache_store(state: State) -> dict[str, Any]:
    """Store the answer when policy and outcome allow; always release the single-flight ticket."""
    from switchyard.cache import CachedAnswer, Partition, get_cache, is_storable, is_strategic

    start = time.perf_counter()
    verdict = dict(state.get("cache") or {})
    cache = get_cache() if verdict.get("cacheable") else None
    stored, why = False, verdict.get("reason", "not cacheable")
    try:
        if cache is not None:
            outcome = state.get("outcome") or {}
            cls = state["classification"]
            ok, why = is_storable(
                state.get("answer", ""), errored=bool(state.get("error")),
                truncated=outcome.get("truncated", False), refused=outcome.get("refused", False),
                tool_failed=outcome.get("tool_failed", False),
                strategic=is_strategic(cls.get("intent"), state["request"], get_settings().cache,
                                       cls.get("intent_scores"))
                or state["route"] == "expert",
            )
            if ok:
                from switchyard.embeddings import get_embedder

                answer = CachedAnswer.create(
                    answer=state["answer"], agent=state["agent"], model=state["model"],
                    sources=state.get("sources") or [], tools_used=state.get("tools_used") or [],
                    intent=cls.get("intent", ""), complexity=COMPLEXITY_FOR_TIER[state["route"]],
                    original_text=state["request"], ttl_s=float(verdict.get("ttl_s") or 0),
                )
                embedding = await get_embedder().aembed_one(state["request"])
                # The partition the lookup searched, so the answer lands exactly there even if
                # the knowledge version moved while the agent worked.
                partition = Partition.from_label(verdict["partition"])
                stored = await cache.astore(state["request"], embedding, partition, answer)
                why = "stored" if stored else "store refused by cache"
    finally:
        release_flight(verdict.get("flight_id"), stored)
    verdict.update(stored=stored, store_reason=why, flight_id=None)
    return {"cache": verdict, "timings": {"cache_store": _ms(start)}}


def respond(state: State,
            # LangGraph injects ``config`` only for this exact spelling (annotations are strings here).
            config: Optional[RunnableConfig] = None,  # noqa: UP045
            runtime: Runtime[Context] | None = None) -> dict[str, Any]:
    """Close the turn: the answer (or a clear error), totals for cost, tokens and latency."""
    from switchyard.accounting import totals
    from switchyard.tracing import annotate_trace

    usage = state.get("usage") or []
    total = totals(usage)
    answer = state.get("error") or state.get("answer") or ""
    update = {
        "answer": answer,
        "messages": [AIMessage(content=answer, name=state.get("agent") or "switchyard")],
        # A cache hit has no agent calls: its cost is the classifier's (zero for the local one).
        "cost_usd": total["cost_usd"],
        "tokens": {"input": total["input_tokens"], "output": total["output_tokens"]},
        "latency_ms": round((time.time() - state.get("started_at", time.time())) * 1000.0, 2),
    }
    # Tier / complexity / cache tags are known only now: put them on the (still open) root run,
    # whose final PATCH carries them to LangSmith. A no-op when tracing is off.
    ctx = (runtime.context if runtime else None) or Context()
    annotate_trace(config, {**state, **update}, ctx.user_id)
    return update
