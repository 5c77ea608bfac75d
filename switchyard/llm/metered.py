"""``ChatOpenAI`` that always reports token usage, estimating it when the server does not.

Some OpenAI-compatible servers send no ``usage`` (or drop the final usage chunk of a stream); the
call would then cost $0. Here the missing usage is estimated at ~4 characters per token (the same
rule as the offline model; close enough for English prose and JSON to flag the spend) and the
message's ``response_metadata["usage_estimated"]`` is set, so accounting can say so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI

from switchyard.llm.usage import estimated_usage


class MeteredChatOpenAI(ChatOpenAI):
    """ChatOpenAI whose answers always carry ``usage_metadata`` (measured or estimated) and
    ``response_metadata["requested_model"]``: the model asked for, which accounting prices (a
    server may answer with another name: a dated snapshot, an alias, llama.cpp's default)."""

    def _fill(self, result: ChatResult, messages: list[BaseMessage], kwargs: dict) -> ChatResult:
        for gen in result.generations:
            msg = gen.message
            extra: dict[str, Any] = {"requested_model": self.model_name}
            if isinstance(msg, AIMessage) and not msg.usage_metadata:
                msg.usage_metadata = estimated_usage(messages, msg, kwargs.get("tools"))
                extra["usage_estimated"] = True
            msg.response_metadata = {**(msg.response_metadata or {}), **extra}
        return result

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        return self._fill(super()._generate(messages, stop, run_manager, **kwargs), messages, kwargs)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: Any = None, **kwargs: Any) -> ChatResult:
        result = await super()._agenerate(messages, stop, run_manager, **kwargs)
        return self._fill(result, messages, kwargs)

    def _last(self, held: _HeldBack, messages: list[BaseMessage],
              kwargs: dict) -> ChatGenerationChunk:
        """The stream's last chunk, stamped with the requested model (and estimated usage)."""
        chunk = held.chunk or ChatGenerationChunk(message=AIMessageChunk(content=""))
        msg = chunk.message
        extra: dict[str, Any] = {"requested_model": self.model_name}
        if not held.seen_usage and isinstance(msg, AIMessageChunk):
            msg.usage_metadata = estimated_usage(
                messages, AIMessage(content="".join(held.text)), kwargs.get("tools"))
            extra["usage_estimated"] = True
        msg.response_metadata = {**(msg.response_metadata or {}), **extra}
        return chunk

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        held = _HeldBack()
        for chunk in super()._stream(messages, stop, run_manager, **kwargs):
            ready = held.push(chunk)
            if ready is not None:
                yield ready
        yield self._last(held, messages, kwargs)

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: Any = None, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        held = _HeldBack()
        async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
            ready = held.push(chunk)
            if ready is not None:
                yield ready
        yield self._last(held, messages, kwargs)


class _HeldBack:
    """A stream held back one chunk, so the last one can be stamped before it leaves."""

    def __init__(self) -> None:
        self.chunk: ChatGenerationChunk | None = None
        self.seen_usage = False
        self.text: list[str] = []

    def push(self, chunk: ChatGenerationChunk) -> ChatGenerationChunk | None:
        """Hold ``chunk``; return the one held before it (None for the first)."""
        self.seen_usage = self.seen_usage or bool(getattr(chunk.message, "usage_metadata", None))
        self.text.append(chunk.text)
        ready, self.chunk = self.chunk, chunk
        return ready
