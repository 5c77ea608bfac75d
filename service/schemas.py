"""Request and error bodies of the HTTP service (answers are ``switchyard.record.RoutingRecord``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

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


class ErrorResponse(BaseModel):
    error: str
    detail: list[dict[str, Any]] | None = None


class FeedbackRequest(BaseModel):
    """An outcome for one answered run, from the user who asked it."""

    model_config = ConfigDict(extra="forbid")

    run_id: StrictStr = Field(pattern=ID_PATTERN,
                              description="The run_id of the answer being rated.")
    score: float = Field(ge=0.0, le=1.0, strict=True,
                         description="1 = good (resolved) .. 0 = bad; a bool is taken as 1 or 0.")
    comment: StrictStr | None = Field(default=None, max_length=2000)
    user_id: StrictStr | None = Field(
        default=None, pattern=ID_PATTERN,
        description="Optional: the signed-in user comes from the Bearer token; required only "
                    "in the local-trial mode.")

    @field_validator("score", mode="before")
    @classmethod
    def _bool_as_number(cls, value: Any) -> Any:
        # A JSON number or true/false, nothing else: "0.5" (a string) is refused, not parsed.
        return float(value) if isinstance(value, bool) else value


class FeedbackResponse(BaseModel):
    run_id: str
    score: float
    stored: bool
    langsmith: bool = Field(description="Also recorded as LangSmith feedback on the run.")
    route: str | None = None
    answered_by: str | None = None
