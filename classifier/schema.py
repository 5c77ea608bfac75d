"""The classification every router decision is made from (the article's JSON, plus what we expose)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Agent = Literal["fast", "standard", "expert"]
ComplexityLevel = Literal["low", "medium", "high"]


class Classification(BaseModel):
    complexity: ComplexityLevel
    requires_auth: bool = False
    tools_needed: list[str] = Field(default_factory=list)
    recommended_agent: Agent
    reasoning: str = ""
    confidence: float = Field(ge=0.0, le=1.0, description="probability of the chosen complexity")
    intent: str = "unknown"
    in_scope: bool = True
    scores: dict[str, float] = Field(default_factory=dict, description="probability per complexity")
    intent_scores: dict[str, float] = Field(
        default_factory=dict, description="the most likely intents and their probabilities (local classifier)"
    )
    quality: dict[str, float] = Field(
        default_factory=dict,
        description="predicted probability of a good answer per tier (a router trained on "
                    "outcomes; empty otherwise)")
    follow_up: bool = False
    forced_tier: Agent | None = Field(default=None, description="tier set by the caller, bypassing the router")
    classifier: str = "local"
    cost_usd: float = 0.0
    tokens: int = 0
    latency_ms: float = 0.0
    # The LLM classifier's accounting line (switchyard.llm.accounting.usage_record); None when local.
    usage: dict[str, Any] | None = None

    @property
    def agent(self) -> Agent:
        return self.recommended_agent


class LLMVerdict(BaseModel):
    """What the LLM classifier is asked to return (structured output)."""

    complexity: ComplexityLevel = Field(description="low, medium or high")
    reasoning: str = Field(description="one sentence explaining the choice")
    intent: str = Field(default="unknown", description="the closest intent from the list given")
    in_scope: bool = Field(default=True, description="false if the request is unrelated to the product")
    requires_auth: bool = Field(default=False, description="true if it needs the user's own account data")
    tools_needed: list[str] = Field(default_factory=list, description="tools from the list given")
