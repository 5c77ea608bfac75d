"""The parent graph's nodes: the routing around the agents.

``RouterNodes`` holds the graph's dependencies; each method is one node. Nothing here reads a
process global, so graphs with different dependencies can share a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any, Literal, Optional

import numpy as np
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.messages.utils import count_tokens_approximately, trim_messages
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.errors import GraphBubbleUp
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from switchyard.agents import prompts
from switchyard.agents.common import classification_of, context_of
from switchyard.agents.expert import build_expert_agent
from switchyard.agents.fast import build_fast_agent
from switchyard.agents.standard import build_standard_agent
from switchyard.cache import (
    CachedAnswer,
    CacheVerdict,
    Partition,
    SemanticCache,
    cache_policy,
    is_storable,
    is_strategic,
    request_intent_key,
    storage_scope,
)
from switchyard.classifier.local import followup_cue
from switchyard.core.context import Context
from switchyard.core.domain import (
    COMPLEXITY_FOR_TIER,
    FALLBACKS,
    TIERS,
    Tier,
    product_name,
    tools_for,
)
from switchyard.core.domain import intent as intent_info
from switchyard.core.tracing import annotate_trace
from switchyard.deps import Dependencies, LazyDependencies, resolve
from switchyard.graph.state import RESET, Flight, State
from switchyard.llm.accounting import expert_counterfactual_usd, totals
from switchyard.llm.errors import failure_kind
from switchyard.llm.usage import estimate_tokens
from switchyard.tools import toolset_version

log = logging.getLogger(__name__)

Route = Literal["fast", "standard", "expert"]
# What the agents may read from the parent state.
AGENT_INPUT_KEYS = ("request", "history", "conversation", "classification")


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 2)


def _part_text(block: Any) -> Any:
    return block.get("text", "") if isinstance(block, dict) else block


def _text(message: Any) -> str:
    """An earlier turn's text, leniently: multimodal blocks keep their text parts."""
    content = message.content
    if isinstance(content, list):
        content = " ".join(t for t in map(_part_text, content) if isinstance(t, str))
    return content if isinstance(content, str) else str(content)


def _request_text(message: Any) -> Any:
    """The message being asked: its text, or None when a part meant as text is not text (a
    client's {"type": "text", "text": 5}), which check_request refuses as such."""
    content = message.content
    if isinstance(content, list):
        parts = [_part_text(b) for b in content]
        return " ".join(parts) if all(isinstance(p, str) for p in parts) else None
    return content


def check_request(text: Any, max_chars: int) -> str | None:
    """Why this request text cannot be routed, in words a person can act on (None if it can)."""
    if not isinstance(text, str):
        return "The message must be text."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return ("The message is not valid UTF-8 text (it contains undecodable bytes). "
                "Please re-send it as UTF-8.")
    if "\x00" in text:
        return "The message contains NUL bytes; please send plain text."
    if not text.strip():
        return f"Your message is empty. Please type a question for {product_name()} support."
    if len(text) > max_chars:
        return (f"Your message is {len(text):,} characters; the limit is {max_chars:,}. "
                "Please shorten it or split it into questions.")
    return None


AGENT_BUILDERS = {Tier.FAST: build_fast_agent, Tier.STANDARD: build_standard_agent,
                  Tier.EXPERT: build_expert_agent}


class RouterNodes:
    """The graph's nodes over one set of dependencies (ready, or built on first use)."""

    def __init__(self, deps: Dependencies | LazyDependencies) -> None:
        self._deps = deps
        # Exploration's draws (classifier.exploration_share, seeded by exploration_seed on
        # first use); not for security.
        self._rng: random.Random | None = None
        # Compiled now, also over lazy dependencies (they read them only when they run), so
        # the drawn graph and the checkpoints know each tier's subgraph.
        self.agents: dict[str, CompiledStateGraph] = {
            t.value: build(deps) for t, build in AGENT_BUILDERS.items()}  # type: ignore[arg-type]

    async def deps(self) -> Dependencies:
        return await resolve(self._deps)

    # -- intake ------------------------------------------------------------------------------
    async def intake(self, state: State, runtime: Runtime[Context]) -> Command[Literal["classify", "respond"]]:
        """The single place request text is validated, before anything costs money; resets
        per-turn accounting. Dependencies are ready before the clock starts, so a request's
        latency is its own, not the process's start-up."""
        deps = await self.deps()
        start = time.perf_counter()
        settings = deps.settings
        messages = list(state.get("messages") or [])
        humans = [m for m in messages if isinstance(m, HumanMessage)]
        update: dict[str, Any] = {
            "started_at": time.time(), "usage": [RESET], "tools_used": [RESET],
            "error": None, "cache": {}, "classification": None, "flight": None,
            "fallback_from": [], "fallback_reasons": [], "provenance": {},
            "answer": "", "agent": "", "model": "", "sources": [], "outcome": {},
        }
        raw = _request_text(humans[-1]) if humans else ""
        error = "No user message: send at least one human message." if not humans else None
        error = error or check_request(raw, settings.max_input_chars)
        ctx = context_of(runtime)
        if error is None and ctx.user_id is not None:
            error = await asyncio.to_thread(self._user_error, deps, ctx.user_id)
        update["timings"] = {RESET: True, "intake": _ms(start)}
        request = raw.strip() if isinstance(raw, str) else ""
        if error:
            return Command(goto="respond", update={**update, "error": error, "request": request[:200]})
        earlier = messages[:messages.index(humans[-1])] if humans else []
        history = [_text(m).strip() for m in earlier if isinstance(m, HumanMessage)]
        update.update(request=request,
                      history=history[-settings.classifier.history_turns:],
                      conversation=self._conversation(earlier, settings.conversation_max_tokens))
        return Command(goto="classify", update=update)

    @staticmethod
    def _user_error(deps: Dependencies, user_id: str) -> str | None:
        if not user_id.strip():
            return "The user id is empty: sign in, or send no user id for anonymous questions."
        if deps.database.user_status(user_id) is None:
            return f"Unknown user {user_id!r}: no such user in this workspace."
        return None

    @staticmethod
    def _conversation(earlier: list[AnyMessage], max_tokens: int) -> list[AnyMessage]:
        """Earlier user and assistant turns, the most recent that fit the token budget."""
        turns = [m if _request_text(m) is not None else m.model_copy(update={"content": _text(m)})
                 for m in earlier if isinstance(m, HumanMessage | AIMessage) and not
                 (isinstance(m, AIMessage) and m.tool_calls)]  # malformed parts: text only
        if not turns or max_tokens <= 0:
            return []
        return trim_messages(turns, max_tokens=max_tokens, strategy="last",
                             token_counter=count_tokens_approximately, start_on="human",
                             allow_partial=False)

    # -- classify ----------------------------------------------------------------------------
    async def classify(self, state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        """The classifier on the request's embedding (computed once, shared with the cache)."""
        deps = await self.deps()
        start = time.perf_counter()
        embedding = await deps.embedder.aembed_one(state["request"])
        history = state.get("history") or []
        result = await deps.classifier.aclassify(state["request"], embedding=embedding,
                                                 history=history)
        updates: dict[str, Any] = {}
        # Every classifier mode marks follow-ups: a follow-up means what its conversation means.
        if history and not result.follow_up and followup_cue(state["request"]):
            updates["follow_up"] = True
        route = result.recommended_agent
        ctx = context_of(runtime)
        exploration: dict[str, Any] | None = None
        if ctx.force_tier in TIERS:
            updates["forced_tier"] = ctx.force_tier
            route = ctx.force_tier
        else:
            route, exploration = self._explore(deps, str(route), result.in_scope)
        classification = result.model_copy(update=updates)
        route, why = self._capable_tier(deps, str(route), classification.intent,
                                        signed_in=bool(ctx.user_id))
        if exploration and exploration["explored"]:
            why = why or (f"exploration: {route} instead of the router's {exploration['policy']} "
                          f"(classifier.exploration_share)")
        update: dict[str, Any] = {"classification": classification, "route": route,
                                  "route_reason": why, "exploration": exploration,
                                  "timings": {"classify": _ms(start)}}
        if classification.usage:  # an LLM classifier's call, priced at its own model
            update["usage"] = [{**classification.usage, "step": "classify", "tier": "classifier"}]
        return update

    def _explore(self, deps: Dependencies, route: str,
                 in_scope: bool) -> tuple[str, dict[str, Any]]:
        """With probability ``classifier.exploration_share``, one tier up or down (each
        neighbour equally likely), so feedback also tells what the other tiers would have done.
        Returns the tier and how it was drawn (its propensity, for importance weighting)."""
        share = deps.settings.classifier.exploration_share
        order = [t.value for t in TIERS]
        i = order.index(route) if route in order else 0
        neighbours = [order[j] for j in (i - 1, i + 1) if 0 <= j < len(order)]
        if share <= 0 or not in_scope or not neighbours:
            return route, {"policy": route, "explored": False, "propensity": 1.0}
        if self._rng is None:
            self._rng = random.Random(deps.settings.classifier.exploration_seed)  # noqa: S311
        if self._rng.random() < share:
            pick = neighbours[self._rng.randrange(len(neighbours))]
            return pick, {"policy": route, "explored": True,
                          "propensity": round(share / len(neighbours), 6)}
        return route, {"policy": route, "explored": False, "propensity": round(1.0 - share, 6)}

    @staticmethod
    def _capable_tier(deps: Dependencies, route: str, intent: str | None, *,
                      signed_in: bool) -> tuple[str, str | None]:
        """Never hand a request that needs tools to a tier whose model cannot call them: move it
        up to the next tier that can (the fast tier calls no tools; its actions are fixed steps)."""
        known = intent_info(intent)
        needs = [t for t in (known.tools if known and signed_in else ())
                 if t in tools_for(route, intent, signed_in=signed_in)]
        if route == Tier.FAST or not needs or deps.settings.tier(route).supports_tools:
            return route, None
        order = [t.value for t in TIERS]
        for higher in order[order.index(route) + 1:]:
            if deps.settings.tier(higher).supports_tools:
                return higher, (f"the {route} tier's model cannot call tools and this request "
                                f"needs {', '.join(needs)}: routed to {higher}")
        return route, f"no tier can call tools; the {route} tier answers without {', '.join(needs)}"

    # -- cache -------------------------------------------------------------------------------
    @staticmethod
    def _partition(deps: Dependencies, state: State, ctx: Context, *, personal: bool,
                   kb_version: str) -> Partition:
        return Partition.for_request(
            tenant=ctx.tenant, user_id=ctx.user_id, personal=personal, key=deps.settings.hash_key,
            tier=state["route"], prompt_version=prompts.current().version, toolset_version=toolset_version(),
            kb_version=kb_version,
        )

    async def cache_lookup(self, state: State, runtime: Runtime[Context]) -> Command[Route | Literal["respond"]]:
        """Serve a safe repeat for free, or send the request on to its tier.

        The user's own partition is searched first, then the shared one. Which one an answer
        goes to is decided when it is stored, from what it was built from.
        """
        deps = await self.deps()
        start = time.perf_counter()
        settings = deps.settings
        ctx = context_of(runtime)
        cls = classification_of(state)
        assert cls is not None
        route = state["route"]
        policy = cache_policy(complexity=COMPLEXITY_FOR_TIER[route], intent=cls.intent,
                              in_scope=cls.in_scope, text=state["request"],
                              settings=settings.cache, intent_scores=cls.intent_scores)
        follow_up = cls.follow_up and bool(state.get("history"))
        if follow_up or not (settings.cache.enabled and ctx.use_cache and policy.cacheable):
            reason = policy.reason
            if not (settings.cache.enabled and ctx.use_cache):
                reason = "cache disabled for this request"
            elif follow_up:
                reason = "skipped: follow-up depends on the conversation"
            verdict = {"hit": False, "similarity": None, "match": "none", "partition": None,
                       "entry_age_s": None, "reason": reason, "cacheable": False}
            return Command(goto=route, update={"cache": verdict, "timings": {"cache_lookup": _ms(start)}})

        # A newer knowledge index (``switchyard ingest`` in another process) is picked up here,
        # so no answer is served from a partition of a version this process no longer serves.
        await asyncio.to_thread(deps.retriever.refresh)
        kb_version = deps.retriever.kb_version
        cache = deps.cache
        embedding = await deps.embedder.aembed_one(state["request"])
        partitions = [self._partition(deps, state, ctx, personal=False, kb_version=kb_version)]
        if ctx.user_id:
            partitions.insert(0, self._partition(deps, state, ctx, personal=True, kb_version=kb_version))
        # Twins share a flight: in the user's own scope when the request may read their account,
        # so different users never wait on each other's private answers.
        flight_partition = partitions[0] if cls.requires_auth else partitions[-1]
        # A personal account fact ("what's my balance?") is looked up by its exact key in the
        # user's own partition first: its paraphrases ("how much do I owe?") hit with no threshold.
        key = request_intent_key(cls.intent, state["request"], settings.cache,
                                 cls.intent_scores) if ctx.user_id else None
        result = await cache.alookup_key(key, partitions[0]) if key else None
        if result is None or not result.hit:
            result = await self._search(cache, state["request"], embedding, partitions)
        flight: Flight | None = None
        waited_s = 0.0  # as a follower of an identical request in flight
        if not result.hit:
            ticket = await cache.acquire_flight(state["request"], flight_partition)
            waited_s += ticket.waited_s
            if not ticket.leader:
                # An identical request was in flight: its answer is cached now (or it failed,
                # or its lease ran out, and this request computes for itself).
                result = await self._search(cache, state["request"], embedding, partitions)
                if not result.hit:
                    ticket = await cache.acquire_flight(state["request"], flight_partition)
                    waited_s += ticket.waited_s
            if not result.hit and ticket.leader and cache.shares_flights:
                # Another replica may have stored the answer and ended its flight between our
                # lookup and our lease: look once more before paying for a model call.
                result = await self._search(cache, state["request"], embedding, partitions)
                if result.hit:
                    await cache.arelease_flight(ticket.key, ticket.token, True)
            if not result.hit and ticket.leader:
                flight = {"key": ticket.key, "token": ticket.token}
        verdict = result.model_dump(exclude={"answer"})
        if not result.hit:  # the most specific partition searched (the user's own, if any)
            verdict["partition"] = partitions[0].label
        verdict.update(cacheable=True, ttl_s=policy.ttl_s, kb_version=kb_version, keyed=bool(key))
        timings = {"cache_lookup": _ms(start)}
        if waited_s:  # part of cache_lookup's time, also shown on its own
            timings["single_flight_wait"] = round(waited_s * 1000.0, 2)
        update: dict[str, Any] = {"cache": verdict, "flight": flight, "timings": timings}
        if result.hit and result.answer is not None:
            cached = result.answer
            update.update(answer=cached.answer, agent=cached.agent, model=cached.model,
                          sources=cached.sources, tools_used=[])
            return Command(goto="respond", update=update)
        return Command(goto=route, update=update)

    @staticmethod
    async def _search(cache: SemanticCache, text: str, embedding: np.ndarray,
                      partitions: list[Partition]) -> CacheVerdict:
        """Each partition in turn (the user's own first): the first hit, else the last miss."""
        for partition in partitions:
            result = await cache.alookup(text, embedding, partition)
            if result.hit:
                break
        return result

    def _release(self, deps: Dependencies, flight: Flight | None, stored: bool) -> None:
        """Sync, for cancellation: never blocks (a shared lease is released in the background)."""
        if flight:
            deps.cache.release_flight(flight["key"], flight["token"], stored)

    async def _arelease(self, deps: Dependencies, flight: Flight | None, stored: bool) -> None:
        if flight:
            await deps.cache.arelease_flight(flight["key"], flight["token"], stored)

    async def cache_store(self, state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        """Store the answer where what it was built from allows; always release the flight.

        An answer built from any account data (the account snapshot, a tool that reads the
        organization or the user) or from an earlier turn of the conversation lives only in the
        asker's partition; only answers built from public sources alone are shared.
        """
        deps = await self.deps()
        start = time.perf_counter()
        verdict = dict(state.get("cache") or {})
        ctx = context_of(runtime)
        stored, why = False, verdict.get("reason", "not cacheable")
        try:
            if verdict.get("cacheable"):
                stored, why = await self._store(deps, state, ctx, verdict)
        except BaseException:
            self._release(deps, state.get("flight"), False)
            raise
        await self._arelease(deps, state.get("flight"), stored)
        verdict.update(stored=stored, store_reason=why)
        return {"cache": verdict, "flight": None, "timings": {"cache_store": _ms(start)}}

    async def _store(self, deps: Dependencies, state: State, ctx: Context,
                     verdict: dict[str, Any]) -> tuple[bool, str]:
        cls = classification_of(state)
        assert cls is not None
        if state.get("fallback_from"):
            return False, "not stored: answered by a fallback tier"
        outcome = state.get("outcome") or {}
        if outcome.get("ungrounded"):
            # The model's answer failed the grounding check: the extractive answer shown instead
            # is for this request; the next one asks the model again.
            return False, "not stored: ungrounded answer replaced by the extractive one"
        ok, why = is_storable(
            state.get("answer", ""), errored=bool(state.get("error")),
            truncated=outcome.get("truncated", False), refused=outcome.get("refused", False),
            tool_failed=outcome.get("tool_failed", False),
            strategic=is_strategic(cls.intent, state["request"], deps.settings.cache,
                                   cls.intent_scores) or state["route"] == Tier.EXPERT,
        )
        if not ok:
            return False, why
        # Decided from what the run used, and nothing else: no policy or intent can widen it.
        # The graph also knows what it handed the agent: earlier turns make the answer the
        # asker's whatever the agent reported.
        personal = (storage_scope(state.get("provenance")) == "personal"
                    or bool(state.get("conversation")) or bool(cls.follow_up and state.get("history")))
        if personal and not ctx.user_id:
            return False, "not stored: built from private data with no signed-in user"
        partition = self._partition(deps, state, ctx, personal=personal,
                                    kb_version=str(verdict.get("kb_version", "")))
        verdict["store_scope"] = "personal" if personal else "shared"
        answer = CachedAnswer.create(
            answer=state["answer"], agent=state["agent"], model=state["model"],
            sources=state.get("sources") or [], tools_used=state.get("tools_used") or [],
            intent=cls.intent, complexity=COMPLEXITY_FOR_TIER[state["route"]],
            original_text=state["request"], ttl_s=float(verdict.get("ttl_s") or 0),
        )
        embedding = await deps.embedder.aembed_one(state["request"])
        stored = await deps.cache.astore(state["request"], embedding, partition, answer)
        key = request_intent_key(cls.intent, state["request"], deps.settings.cache,
                                 cls.intent_scores) if verdict.get("keyed") else None
        if stored and personal and key:
            await deps.cache.astore_key(key, partition, answer, embedding)
        scope = "user's own partition" if personal else "shared partition"
        return stored, f"stored in the {scope}" if stored else "store refused by cache"

    # -- tiers -------------------------------------------------------------------------------
    def tier_node(self, tier: Tier) -> Any:
        """Run one tier's agent; on a provider failure, hand the request to the next tier.

        The fallback is part of the graph, so every way of running it (the CLI, Studio, a
        service, a plain ``graph.ainvoke``) gets it. Each attempt gets the time left before the
        request's deadline, keeping half of it for the next tier when there is one.
        """

        agent = self.agents[tier.value]

        async def run(state: State, config: RunnableConfig,
                      runtime: Runtime[Context]) -> Command[Literal["fast", "standard", "expert", "cache_store"]]:
            deps = await self.deps()
            tried = [*state.get("fallback_from", []), tier.value]
            remaining = [t for t in FALLBACKS[tier] if t.value not in tried]
            deadline = float(state.get("started_at") or time.time()) + deps.settings.request_timeout_s
            budget = deadline - time.time()
            budget = min(budget / 2 if remaining else budget, deps.settings.tier(tier).timeout_s
                         * (deps.settings.tier(tier).max_retries + 1))
            agent_input = {k: state[k] for k in AGENT_INPUT_KEYS if k in state}  # type: ignore[literal-required]
            try:
                if budget <= 0:
                    raise TimeoutError("no time left before the request's deadline")
                async with asyncio.timeout(budget):
                    out = await agent.ainvoke(agent_input, config)
            except GraphBubbleUp:  # LangGraph's own control flow (interrupts), not a failure
                raise
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("tier %s failed: %s", tier.value, reason)
                failures = [*state.get("fallback_from", []), tier.value]
                kinds = [*state.get("fallback_reasons", []), failure_kind(exc)]
                if remaining:
                    _emit({"event": "reset", "failed_tier": tier.value,
                           "next_tier": remaining[0].value, "reason": type(exc).__name__})
                    return Command(goto=remaining[0].value, update={
                        "fallback_from": failures, "fallback_reasons": kinds, "agent": ""})
                message = ("Sorry, no model tier could answer right now "
                           f"({', '.join(failures)} failed). Please retry in a moment.")
                return Command(goto="cache_store", update={
                    "fallback_from": failures, "fallback_reasons": kinds, "error": message,
                    "outcome": {"errored": True, "unavailable": True}})
            except BaseException:
                # Cancelled (a client went away, a deadline outside the graph): free the twins now.
                self._release(deps, state.get("flight"), False)
                raise
            return Command(goto="cache_store", update=out)

        run.__name__ = f"{tier.value}_tier"
        return run

    # -- respond -----------------------------------------------------------------------------
    async def respond(self, state: State,
                      # LangGraph injects ``config`` only for this exact spelling.
                      config: Optional[RunnableConfig] = None,  # noqa: UP045
                      runtime: Runtime[Context] | None = None) -> dict[str, Any]:
        """Close the turn: the answer (or a clear error), totals for cost, tokens and latency."""
        deps = await self.deps()
        usage = state.get("usage") or []
        total = totals(usage)
        answer = state.get("error") or state.get("answer") or ""
        asked = " ".join([state.get("request") or "",
                          *(_text(m) for m in state.get("conversation") or [])])
        update = {
            "answer": answer,
            "messages": [AIMessage(content=answer, name=state.get("agent") or "switchyard")],
            # A cache hit has no agent calls: its cost is the classifier's (zero for the local one).
            "cost_usd": total["cost_usd"],
            "counterfactual_usd": expert_counterfactual_usd(
                usage, request_tokens=estimate_tokens(asked), answered_by=state.get("agent"),
                cache_hit=bool((state.get("cache") or {}).get("hit")),
                errored=bool(state.get("error")), settings=deps.settings),
            "tokens": {"input": total["input_tokens"], "output": total["output_tokens"]},
            "latency_ms": round((time.time() - state.get("started_at", time.time())) * 1000.0, 2),
        }
        # Tier / complexity / cache tags are known only now: put them on the (still open) root
        # run, whose final PATCH carries them to LangSmith. A no-op when tracing is off.
        annotate_trace(config, {**state, **update}, context_of(runtime).user_id,
                       key=deps.settings.hash_key)
        return update


def _emit(event: dict[str, Any]) -> None:
    """A custom stream event (``stream_mode="custom"``); a no-op outside a streaming run."""
    with contextlib.suppress(RuntimeError):  # no stream writer outside a run
        get_stream_writer()(event)
