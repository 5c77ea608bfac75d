"""Request and response bodies of the HTTP service."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

# Ids end up in checkpoint keys and logs: keep them short and printable.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: StrictStr = Field(description="The user's message (1 to max_input_chars characters).")
    user_id: StrictStr | None = Field(
        default=None, pattern=ID_PATTERN,
        description="Optional: the signed-in user comes from the Bearer token; a different "
                    "user_id here is refused (403). Required only in the local-trial mode.")
    thread_id: StrictStr | None = Field(
        default=None, pattern=ID_PATTERN,
        description="Conversation to continue; omit to start a new one (its id is returned).",
    )
    tenant: StrictStr | None = Field(default=None, pattern=ID_PATTERN,
                                     description="Deployment tenant (a hard cache partition).")

    # The message's content (empty, too long, NUL bytes...) is checked by the graph's intake
    # node, the one place every caller goes through; this schema checks only JSON shape and ids.


class ChatResponse(BaseModel):
    """The answer and the routing record that explains it."""

    answer: str
    thread_id: str | None = Field(description="The conversation to continue; None for a one-shot "
                                               "request (sent without a thread_id, not stored).")
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
    model_calls: int = Field(default=0, description="Model calls this request paid for (one per "
                                                    "usage record; 0 for a cache hit).")
    fallback_from: str | None = Field(
        default=None, description="Tier that failed before another tier answered (provider failure).")
    error: str | None = None


class ErrorResponse(BaseModel):
    error: str
    detail: list[dict[str, Any]] | None = None
