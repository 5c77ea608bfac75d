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

    def _last(self, chunk: ChatGenerationChunk | None, seen_usage: bool, text: list[str],
              messages: list[BaseMessage], kwargs: dict) -> ChatGenerationChunk:
        """The stream's last chunk, stamped with the requested model (and estimated usage)."""
        if chunk is None:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=""))
        msg = chunk.message
        extra: dict[str, Any] = {"requested_model": self.model_name}
        if not seen_usage and isinstance(msg, AIMessageChunk):
            msg.usage_metadata = estimated_usage(
                messages, AIMessage(content="".join(text)), kwargs.get("tools"))
            extra["usage_estimated"] = True
        msg.response_metadata = {**(msg.response_metadata or {}), **extra}
        return chunk

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        # Each chunk is held back one step so the last one can be stamped before it leaves.
        seen, text, held = False, [], None
        for chunk in super()._stream(messages, stop, run_manager, **kwargs):
            seen = seen or bool(getattr(chunk.message, "usage_metadata", None))
            text.append(chunk.text)
            if held is not None:
                yield held
            held = chunk
        yield self._last(held, seen, text, messages, kwargs)

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: Any = None, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        seen, text, held = False, [], None
        async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
            seen = seen or bool(getattr(chunk.message, "usage_metadata", None))
            text.append(chunk.text)
            if held is not None:
                yield held
            held = chunk
        yield self._last(held, seen, text, messages, kwargs)
