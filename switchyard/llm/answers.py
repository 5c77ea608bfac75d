"""Is a model's answer usable? The agent layer retries a larger budget or another tier if not."""

from __future__ import annotations

from langchain_core.messages import AIMessage, BaseMessage

# Providers name an exhausted budget differently (OpenAI "length", Anthropic "max_tokens").
_LENGTH_REASONS = {"length", "max_tokens"}
# The finish reason of an answer cut at its first repetition (switchyard/llm/metered.py).
REPETITION = "repetition"


def text_of(message: BaseMessage) -> str:
    """The visible text, whether content is a string or a list of content blocks."""
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(
        block if isinstance(block, str) else str(block.get("text", ""))
        for block in content
        if isinstance(block, str) or block.get("type") in ("text", "output_text")
    )


def is_unusable(message: BaseMessage) -> str | None:
    """``"length"`` when the model ran out of budget (a reasoning model can spend it all on hidden
    reasoning and return nothing), ``"empty"`` when there is neither text nor a tool call, else
    None."""
    meta = message.response_metadata or {}
    reason = meta.get("finish_reason") or meta.get("stop_reason")
    if reason in _LENGTH_REASONS:
        return "length"
    has_tools = isinstance(message, AIMessage) and bool(message.tool_calls)
    if not text_of(message).strip() and not has_tools:
        return "empty"
    return None
