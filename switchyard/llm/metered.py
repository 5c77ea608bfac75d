"""``ChatOpenAI`` that always reports token usage, estimating it when the server does not.

Some OpenAI-compatible servers send no ``usage`` (or drop the final usage chunk of a stream); the
call would then cost $0. Here the missing usage is estimated at ~4 characters per token (the same
rule as the offline model; close enough for English prose and JSON to flag the spend) and the
message's ``response_metadata["usage_estimated"]`` is set, so accounting can say so.

With ``cut_repetition`` (small local models, from the catalogue) the streamed text goes through a
:class:`~switchyard.llm.repetition.RepetitionGuard`: only text the guard releases is yielded, so
the callbacks (the service's streamed tokens) never see a repetition, and at the first one the
stream is closed (llama-server then stops generating) and the answer ends with
``finish_reason="repetition"``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI

from switchyard.llm.answers import REPETITION
from switchyard.llm.repetition import RepetitionGuard, cut_repetition
from switchyard.llm.usage import estimated_usage


class MeteredChatOpenAI(ChatOpenAI):
    """ChatOpenAI whose answers always carry ``usage_metadata`` (measured or estimated) and
    ``response_metadata["requested_model"]``: the model asked for, which accounting prices (a
    server may answer with another name: a dated snapshot, an alias, llama.cpp's default)."""

    # Cut the answer at its first repetition (streamed: as it is generated).
    cut_repetition: bool = False

    def _fill(self, result: ChatResult, messages: list[BaseMessage], kwargs: dict) -> ChatResult:
        for gen in result.generations:
            msg = gen.message
            extra: dict[str, Any] = {"requested_model": self.model_name}
            if self.cut_repetition and isinstance(msg.content, str):
                kept, hit = cut_repetition(msg.content)
                if hit is not None:  # a whole (non-streamed) answer: cut it after the fact
                    msg.content = kept
                    extra.update(finish_reason=REPETITION, repetition=hit.kind)
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
        guard = _Guard() if self.cut_repetition else None
        stream = super()._stream(messages, stop, run_manager, **kwargs)
        try:
            for raw in stream:
                chunk = guard.pass_on(raw) if guard else raw
                ready = held.push(chunk)
                if ready is not None:
                    yield ready
                if guard and guard.stopped:
                    break
        finally:
            stream.close()  # at a repetition: closes the response, the server stops generating
        if guard:
            for ready in held.push_rest(guard.rest()):
                yield ready
        yield self._last(held, messages, kwargs)

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: Any = None, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        held = _HeldBack()
        guard = _Guard() if self.cut_repetition else None
        stream = super()._astream(messages, stop, run_manager, **kwargs)
        try:
            async for raw in stream:
                chunk = guard.pass_on(raw) if guard else raw
                ready = held.push(chunk)
                if ready is not None:
                    yield ready
                if guard and guard.stopped:
                    break
        finally:
            await stream.aclose()  # at a repetition: closes the response, the server stops
        if guard:
            for ready in held.push_rest(guard.rest()):
                yield ready
        yield self._last(held, messages, kwargs)


class _Guard:
    """A stream's chunks with their text replaced by what the repetition guard releases."""

    def __init__(self) -> None:
        self.guard = RepetitionGuard()

    @property
    def stopped(self) -> bool:
        return self.guard.stopped

    def pass_on(self, chunk: ChatGenerationChunk) -> ChatGenerationChunk:
        """``chunk`` (ids, metadata, usage kept) carrying only the newly released text; at the
        repetition, marked ``finish_reason="repetition"``."""
        msg = chunk.message
        if not isinstance(msg.content, str) or not msg.content:
            return chunk
        released = self.guard.feed(msg.content)
        meta = dict(msg.response_metadata or {})
        if self.guard.stopped and self.guard.hit is not None:
            meta.update(finish_reason=REPETITION, repetition=self.guard.hit.kind)
        usage = msg.usage_metadata if isinstance(msg, AIMessageChunk) else None
        return ChatGenerationChunk(
            message=AIMessageChunk(content=released, id=msg.id, response_metadata=meta,
                                   usage_metadata=usage,
                                   tool_call_chunks=getattr(msg, "tool_call_chunks", []) or []),
            generation_info=chunk.generation_info)

    def rest(self) -> str:
        """What the guard held back until the stream ended (the last words of a clean answer)."""
        return self.guard.finish()


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

    def push_rest(self, text: str) -> list[ChatGenerationChunk]:
        """Text a guarded stream released only at its end, in order: after the held chunk's
        own text, but before a held chunk that only carries the finish reason and usage."""
        if not text:
            return []
        rest = ChatGenerationChunk(message=AIMessageChunk(content=text))
        self.text.append(text)
        if self.chunk is None or self.chunk.text:
            ready, self.chunk = self.chunk, rest
            return [ready] if ready is not None else []
        return [rest]
