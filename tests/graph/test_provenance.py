"""Provenance is absolute: an answer whose prompt held the conversation or account data is kept
only in the asker's partition, whatever the cache policy says about its intent.

A model that recaps everything it was shown (as real models do when asked "what did you tell me
earlier?") answers every tier, in every classifier mode. u-0001 asks for their balance in a
thread, then asks an out-of-scope recap question in the same thread; users of another
organization and of the same organization then ask the same words. Nobody but u-0001 may get a
byte of that recap, and it never lands in the shared partition.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver
from support.fakes import FakeModels, ScriptedChat
from support.front_door import variant

from switchyard.cache import storage_scope
from switchyard.cache.faiss_backend import FaissSemanticCache
from switchyard.classifier.cascade import CascadeClassifier
from switchyard.classifier.llm import LLMClassifier
from switchyard.core.context import Context
from switchyard.record import RoutingRecord

pytestmark = pytest.mark.integration

BALANCE = "What is my account balance?"
RECAP = "what did you tell me earlier?"
OWNER, OTHER_ORG, SAME_ORG = "u-0001", "u-0550", "u-0002"


def recap(messages: list[BaseMessage], n: int) -> str:
    """What the model was shown, repeated back: the account facts of its instructions and every
    turn of the conversation (short enough to stay in the next turn's conversation budget)."""
    parts = []
    for m in messages:
        text = str(m.content)
        if isinstance(m, SystemMessage):
            text = text[text.find("<account>"):text.find("</account>")] if "<account>" in text else ""
        if text:
            parts.append(text[:600])
    return "Here is everything so far: " + " | ".join(parts)


def verdict(messages: list[BaseMessage], n: int) -> AIMessage:
    """A scripted LLM classifier: the balance question is personal; the recap is out of scope."""
    text = str(messages[-1].content)
    asks_balance = "balance" in text.lower() and "earlier" not in text.lower()
    args = ({"complexity": "low", "reasoning": "balance", "intent": "account_balance",
             "in_scope": True, "requires_auth": True, "tools_needed": ["get_account_summary"]}
            if asks_balance else
            {"complexity": "low", "reasoning": "chit-chat", "intent": "out_of_scope",
             "in_scope": False, "requires_auth": False, "tools_needed": []})
    return AIMessage(content="", tool_calls=[{"name": "LLMVerdict", "args": args, "id": f"c{n}"}],
                     usage_metadata={"input_tokens": 200, "output_tokens": 30,
                                     "total_tokens": 230})


def _secrets(sy: Any) -> set[str]:
    """Org 1's facts the owner's account snapshot carries into a prompt (the fast tier's)."""
    from switchyard.tools import account_snapshot

    snap = account_snapshot(sy.database, OWNER)
    return {f"{k.replace('_', ' ')}: {snap[k]}" for k in
            ("email_masked", "org_name", "balance_due", "last_invoice_number") if snap[k]}


@pytest.mark.parametrize("mode", ["local", "llm", "cascade"])
async def test_a_recap_of_the_conversation_never_reaches_another_user(sy, tmp_path,
                                                                        mode: str) -> None:
    settings = sy.settings.model_copy(deep=True)
    models = FakeModels(settings, fast=ScriptedChat(reply=recap, name_="recap-fast"),
                        standard=ScriptedChat(reply=recap, name_="recap-standard"),
                        expert=ScriptedChat(reply=recap, name_="recap-expert"))
    classifier: Any = sy.classifier
    if mode != "local":
        llm = LLMClassifier(models, chat_model=ScriptedChat(reply=verdict))
        # Always escalated: the cascade's verdict is the LLM's.
        classifier = llm if mode == "llm" else CascadeClassifier(sy.classifier, llm, 1.01)
    cache = FaissSemanticCache(tmp_path / f"c{time.monotonic_ns()}.sqlite", settings.cache,
                               hash_key=settings.hash_key)
    run = variant(sy, settings, classifier=classifier, models=models, cache=cache)
    graph = run.compile(checkpointer=InMemorySaver())
    secrets = _secrets(sy)

    async def ask(user: str, text: str, tier: str, thread: str | None = None) -> dict[str, Any]:
        # Without a thread id: a conversation of one turn, under an id of its own.
        config = {"configurable": {"thread_id": thread or f"solo-{uuid.uuid4().hex}"}}
        state = await graph.ainvoke({"messages": [HumanMessage(text)]}, config,
                                    context=Context(user_id=user, force_tier=tier))
        return RoutingRecord.from_state(state).model_dump() | {"provenance": state["provenance"]}

    leaks: list[str] = []
    for tier in ("fast", "standard", "expert"):
        thread = f"{mode}-{tier}"
        await ask(OWNER, BALANCE, tier, thread)
        mine = await ask(OWNER, RECAP, tier, thread)
        assert mine["classification"]["in_scope"] is False or mode == "local", mine
        # The recap was built from the conversation: it is never shared.
        assert mine["provenance"]["conversation"] is True
        assert storage_scope(mine["provenance"]) == "personal"
        assert "shared" not in str(mine["cache"].get("store_reason")), mine["cache"]
        for other in (OTHER_ORG, SAME_ORG):
            got = await ask(other, RECAP, tier)
            # The owner's recap holds the owner's turns (and, on the fast tier, their account).
            # Another user's own recap of a one-turn conversation may be shared: it holds
            # only the words they typed.
            found = sorted(s for s in {*secrets, BALANCE} if s in got["answer"])
            if found:
                leaks.append(f"{mode}/{tier}: {other} was served {found}")
    cache.close()
    assert not leaks, leaks
    # The shared partition holds nothing built from the conversation.
    import sqlite3

    with sqlite3.connect(cache.path) as conn:
        shared = conn.execute("SELECT count(*) FROM entries WHERE scope = 'public' AND "
                              "text = ? AND instr(answer, ?) > 0", (RECAP, BALANCE)).fetchone()[0]
    assert shared == 0


def test_storage_scope_is_decided_by_inputs_alone() -> None:
    assert storage_scope({"inputs": ["request", "passages"], "account_data": False}) == "shared"
    assert storage_scope({"inputs": ["request", "public_tools"]}) == "shared"
    for private in (["request", "conversation"], ["request", "account"],
                    ["request", "account_tools"], ["request", "something_new"]):
        assert storage_scope({"inputs": private}) == "personal", private
    # No provenance (an old checkpoint, a host's own agent): assume the worst.
    assert storage_scope(None) == "personal"
    assert storage_scope({"account_data": False, "tools": []}) == "personal"
    assert storage_scope({"inputs": ["request"], "conversation": True}) == "personal"
