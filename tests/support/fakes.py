"""Fakes for compiling the real graph without real models: a model factory with scripted models."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from switchyard.core.settings import Settings
from switchyard.llm.factory import ModelFactory, TierGate


class ScriptedChat(BaseChatModel):
    """A chat model whose reply (or failure) is computed by ``reply(messages, call_number)``."""

    reply: Callable[[list[BaseMessage], int], Any]
    name_: str = "scripted"
    calls: list[list[BaseMessage]] = []

    model_config = {"arbitrary_types_allowed": True}

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> BaseChatModel:  # type: ignore[override]
        return self  # answers without calling tools

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:  # pragma: no cover - the graph is async
        raise NotImplementedError

    async def _agenerate(self, messages: list[BaseMessage], stop: Any = None,
                         run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self.calls.append(list(messages))
        out = self.reply(list(messages), len(self.calls))
        if asyncio.iscoroutine(out):
            out = await out
        if isinstance(out, BaseException):
            raise out
        message = out if isinstance(out, AIMessage) else AIMessage(content=str(out))
        message.response_metadata = {"model_name": self.name_, "finish_reason": "stop",
                                     **(message.response_metadata or {})}
        return ChatResult(generations=[ChatGeneration(message=message)])


class FakeModels(ModelFactory):
    """The model factory with some tiers replaced by scripted models (the rest stay offline)."""

    def __init__(self, settings: Settings, **by_tier: BaseChatModel) -> None:
        super().__init__(settings)
        self.by_tier = by_tier

    def chat_model(self, tier: str, override: str | None = None) -> BaseChatModel:
        return self.by_tier.get(tier) or super().chat_model(tier, override)

    def gate(self, tier: str) -> TierGate:
        return super().gate(tier)


class StreamingScript(BaseChatModel):
    """A streaming chat model that plays one scripted turn per call, word by word.

    Each turn is text, optionally followed by tool calls (a preamble before calling tools), or
    an exception raised after the text has streamed (a provider failing mid-answer). LangChain
    reports each chunk to the stream's callbacks itself.
    """

    turns: list[tuple[str, list[dict[str, Any]] | BaseException | None]]
    name_: str = "streaming-script"
    calls: int = 0

    model_config = {"arbitrary_types_allowed": True}

    @property
    def _llm_type(self) -> str:
        return "streaming-script"

    def bind_tools(self, tools: Any, **kwargs: Any) -> BaseChatModel:  # type: ignore[override]
        return self

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:  # pragma: no cover
        raise NotImplementedError

    async def _astream(self, messages: list[BaseMessage], stop: Any = None,
                       run_manager: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        from langchain_core.messages import AIMessageChunk
        from langchain_core.outputs import ChatGenerationChunk

        text, after = self.turns[min(self.calls, len(self.turns) - 1)]
        self.calls += 1
        for i, word in enumerate(text.split(" ")):
            piece = word if i == 0 else " " + word
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        if isinstance(after, BaseException):
            raise after
        last = AIMessageChunk(content="", response_metadata={
            "finish_reason": "tool_calls" if after else "stop", "model_name": self.name_})
        if after:
            last = AIMessageChunk(content="", tool_call_chunks=[
                {"name": c["name"], "args": json.dumps(c.get("args", {})), "id": c["id"],
                 "index": i} for i, c in enumerate(after)],
                response_metadata={"finish_reason": "tool_calls", "model_name": self.name_})
        yield ChatGenerationChunk(message=last)

    async def _agenerate(self, messages: list[BaseMessage], stop: Any = None,
                         run_manager: Any = None, **kwargs: Any) -> ChatResult:
        from langchain_core.language_models.chat_models import agenerate_from_stream

        return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))
