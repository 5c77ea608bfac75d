"""What to send to a model and what it costs, resolved from the tier and the catalogue.

A per-request override (``Context(expert_model="gpt-4.1")``) is judged by the OVERRIDING model's
family and catalogue price, never the tier's: the tier only contributes its connection, budget
and preferences (temperature, effort) where that family accepts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from switchyard.core.settings import TierModel
from switchyard.llm.catalog import catalog

PriceSource = Literal["catalog", "config", "tier"]


@dataclass(frozen=True)
class RequestRules:
    """The request parameters for one model on one tier (None = not sent)."""

    model: str
    family: str
    temperature: float | None
    reasoning_effort: str | None
    # OpenAI's budget parameter; for reasoning models it includes the hidden reasoning.
    max_completion_tokens: int
    # Also sent as max_tokens (local servers such as Ollama read only that one).
    max_tokens: int | None
    # Extra request-body fields from the catalogue (llama.cpp sampling): local tiers only, as a
    # hosted API rejects fields it does not know (OpenAI: HTTP 400 for repeat_penalty).
    extra_body: dict[str, Any] = field(default_factory=dict)
    # A small local model: short prompt, no bigger-budget retry (see catalog.toml).
    small: bool = False
    # Stream the answer and cut it at its first repetition.
    cut_repetition: bool = False


@dataclass(frozen=True)
class ModelPrice:
    """USD per 1M tokens for the model actually called, and where the figure came from:
    ``catalog`` (catalogue entry), ``config`` (the tier's configured prices for its own model) or
    ``tier`` (a model the catalogue does not know, priced at the tier's rates: an estimate)."""

    model: str
    input_per_m: float
    cached_input_per_m: float
    output_per_m: float
    source: PriceSource


def request_rules(cfg: TierModel, override: str | None = None, factor: float = 1.0) -> RequestRules:
    """Rules for ``override`` (or the tier's model) on tier ``cfg``; ``factor`` scales the budget."""
    model = override or cfg.model
    cat = catalog()
    family = cat.family_of(model)
    sampling = cat.sampling_of(model)
    effort = (cfg.reasoning_effort or family.default_effort) if family.reasoning_effort else None
    reserve = cfg.reasoning_budget if cfg.reasoning_budget is not None else family.budget_for(effort)
    visible = cfg.max_tokens
    if sampling.max_tokens_cap is not None:
        visible = min(visible, sampling.max_tokens_cap)
    budget = max(1, int((visible + (reserve if family.reasoning_effort else 0)) * factor))
    temperature = cfg.temperature
    if sampling.default_temperature is not None and "temperature" not in cfg.model_fields_set:
        temperature = sampling.default_temperature  # the tier's own setting still wins
    return RequestRules(
        model=model,
        family=family.name,
        temperature=temperature if family.temperature else None,
        reasoning_effort=effort,
        max_completion_tokens=budget,
        max_tokens=budget if cfg.is_local else None,
        extra_body=dict(sampling.sampling) if cfg.is_local else {},
        small=sampling.small,
        cut_repetition=sampling.cut_repetition,
    )


def model_price(cfg: TierModel, model: str | None = None) -> ModelPrice:
    """The price of calling ``model`` (default: the tier's) on tier ``cfg``."""
    cat = catalog()
    model = model or cfg.model
    same = cat.canonical(model) == cat.canonical(cfg.model)
    entry = cat.lookup(model)
    if same:
        matches = entry is not None and (
            (entry.input_per_m, entry.cached_input_per_m, entry.output_per_m)
            == (cfg.input_per_m, cfg.cached_input_per_m, cfg.output_per_m)
        )
        return ModelPrice(model, cfg.input_per_m, cfg.cached_input_per_m, cfg.output_per_m,
                          "catalog" if matches else "config")
    if entry is not None:
        return ModelPrice(model, entry.input_per_m, entry.cached_input_per_m, entry.output_per_m,
                          "catalog")
    return ModelPrice(model, cfg.input_per_m, cfg.cached_input_per_m, cfg.output_per_m, "tier")
