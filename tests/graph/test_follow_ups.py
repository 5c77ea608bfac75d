"""Follow-ups in every classifier mode: marked as such, answered with their conversation (the
earlier user turns and the assistant's answers), and never cached."""

from __future__ import annotations

import time
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from support.fakes import FakeModels, ScriptedChat
from support.front_door import variant

from switchyard.cache.faiss_backend import FaissSemanticCache
from switchyard.classifier.llm import LLMClassifier
from switchyard.core.context import Context
from switchyard.record import RoutingRecord

pytestmark = pytest.mark.integration

FIRST = "Help me debug this system error: webhook deliveries fail with 401"
FOLLOW = "and how do I fix it?"
FIRST_ANSWER = "WH-401 means the webhook signature did not match: your signing secret changed."


def _verdict(messages: list[BaseMessage], n: int) -> AIMessage:
    """What a real LLM classifier returns: a structured verdict (as a tool call), never a
    follow-up flag of its own."""
    args = {"complexity": "medium", "reasoning": "debugging a webhook failure",
            "intent": "webhook_debugging", "in_scope": True, "requires_auth": True,
            "tools_needed": ["lookup_error_code"]}
    return AIMessage(content="", tool_calls=[{"name": "LLMVerdict", "args": args, "id": f"c{n}"}],
                     usage_metadata={"input_tokens": 300, "output_tokens": 40, "total_tokens": 340})


def _standard(messages: list[BaseMessage], n: int) -> str:
    if n == 1:
        return FIRST_ANSWER
    return "Rotate the signing secret in Settings > Webhooks, then redeliver the failed events."


async def test_llm_mode_marks_follow_ups_answers_with_the_conversation_and_never_caches(
        sy, tmp_path) -> None:
    classifier_model = ScriptedChat(reply=_verdict)
    standard = ScriptedChat(reply=_standard, name_="gpt-4.1")
    settings = sy.settings.model_copy(deep=True)
    models = FakeModels(settings, standard=standard)
    llm_mode = variant(
        sy, settings, classifier=LLMClassifier(models, chat_model=classifier_model), models=models,
        cache=FaissSemanticCache(tmp_path / f"c{time.monotonic_ns()}.sqlite", settings.cache,
                                 hash_key=b"k"))
    graph = llm_mode.compile(checkpointer=InMemorySaver())

    async def ask(text: str, thread: str, user: str = "u-0001") -> dict[str, Any]:
        state = await graph.ainvoke({"messages": [HumanMessage(text)]},
                                    {"configurable": {"thread_id": thread}},
                                    context=Context(user_id=user))
        return RoutingRecord.from_state(state).model_dump()

    first = await ask(FIRST, "t-1")
    assert first["classification"]["classifier"] == "llm" and first["agent"] == "standard"
    follow = await ask(FOLLOW, "t-1")
    assert follow["classification"]["follow_up"] is True
    assert follow["cache"]["reason"] == "skipped: follow-up depends on the conversation"
    assert follow["cache"].get("stored") is not True
    # The model answering the follow-up saw the earlier turn and the assistant's earlier answer.
    seen = standard.calls[-1]
    texts = [str(m.content) for m in seen]
    assert any(FIRST in t for t in texts) and any(FIRST_ANSWER in t for t in texts)
    assert isinstance(seen[-1], HumanMessage) and seen[-1].content == FOLLOW
    # Another user, another thread, the same words: nothing was cached to serve them.
    other = await ask(FOLLOW, "t-2", user="u-0002")
    assert other["cache_hit"] is False
