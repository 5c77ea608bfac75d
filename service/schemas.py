"""Request and response bodies of the HTTP service."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from switchyard.runner import InputError, check_text
from switchyard.settings import get_settings

# Ids end up in checkpoint keys and logs: keep them short and printable.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: StrictStr = Field(description="The user's message (1 to max_input_chars characters).")
    user_id: StrictStr = Field(pattern=ID_PATTERN, description="Signed-in end user, e.g. 'u-0001'.")
    thread_id: StrictStr | None = Field(
        default=None, pattern=ID_PATTERN,
        description="Conversation to continue; omit to start a new one (its id is returned).",
    )
    tenant: StrictStr | None = Field(default=None, pattern=ID_PATTERN,
                                     description="Deployment tenant (a hard cache partition).")

    @field_validator("message")
    @classmethod
    def _message(cls, value: str) -> str:
        try:
            check_text(value)
        except InputError as exc:
            raise ValueError(str(exc)) from exc
        if not value.strip():
            raise ValueError("The message is empty; send a question as text.")
        limit = get_settings().max_input_chars
        if len(value) > limit:
            raise ValueError(f"The message is {len(value):,} characters; the limit is {limit:,}.")
        return value


class ChatResponse(BaseModel):
    """The answer and the routing record that explains it."""

    answer: str
    thread_id: str
    agent: str | None
    route: str | None
    complexity: str | None
    intent: str | None
    confidence: float | None
    cache_hit: bool
    similarity: float | None
    cost_usd: float
    latency_ms: float | None
    model: str | None
    tools_used: list[str]
    sources: list[dict[str, Any]]
    tokens: dict[str, int]
    fallback_from: str | None = Field(
        default=None, description="Tier that failed before another tier answered (provider failure).")
    error: str | None = None


class ErrorResponse(BaseModel):
    error: str
    detail: list[dict[str, Any]] | None = None
