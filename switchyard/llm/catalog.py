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
            )
    except (KeyError, TypeError, ValueError, re.error) as exc:
        if isinstance(exc, CatalogError):
            raise
        raise CatalogError(f"model catalogue is malformed: {exc!r}") from exc
    return Catalog(families=families, models=models, default_family=defaults[0])


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The bundled catalogue (read once per process)."""
    with CATALOG_PATH.open("rb") as fh:
        return parse_catalog(tomllib.load(fh))
