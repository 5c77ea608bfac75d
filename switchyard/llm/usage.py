"""Token estimates for answers whose server reported no usage (~4 characters per token, the same
rule as the offline model: close enough for English prose and JSON to flag the spend)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    return max(1, (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN) if text else 0


def _message_text(message: BaseMessage) -> str:
    parts = [message.content if isinstance(message.content, str) else json.dumps(message.content)]
    if isinstance(message, AIMessage):
        parts += [json.dumps(c.get("args", {})) + c.get("name", "") for c in message.tool_calls]
    return "".join(parts)


def estimated_usage(messages: Sequence[BaseMessage], output: BaseMessage,
                    tools: Any = None) -> UsageMetadata:
    prompt = "".join(_message_text(m) for m in messages) + (json.dumps(tools) if tools else "")
    tin, tout = estimate_tokens(prompt), estimate_tokens(_message_text(output))
    return {"input_tokens": tin, "output_tokens": tout, "total_tokens": tin + tout}
