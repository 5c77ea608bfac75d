"""The domain catalogue: tiers, and the active domain pack's intents and tools.

Everything else is derived from here: which intents are personal (their answers may come from the
signed-in customer's account) or strategic (never cached), which fixed action steps an intent runs,
which tools each tier binds for a request, and which tools read no account data (so an answer
built only from them and the help center may be shared). The intents and tools come from the
active domain pack's manifest (``switchyard.core.pack``; the bundled default pack unless one is chosen).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from switchyard.core.pack import (
    COMPLEXITY_FOR_HINT,
    OUT_OF_SCOPE,  # noqa: F401 - re-exported: the catalogue's out-of-scope intent
    DomainPack,
    default_pack_dir,
    load_pack_cached,
)


class Tier(StrEnum):
    """The three agent tiers, cheapest first."""

    FAST = "fast"
    STANDARD = "standard"
    EXPERT = "expert"


TIERS: tuple[Tier, ...] = (Tier.FAST, Tier.STANDARD, Tier.EXPERT)
COMPLEXITIES: tuple[str, ...] = ("low", "medium", "high")
TIER_FOR_COMPLEXITY: dict[str, Tier] = {"low": Tier.FAST, "medium": Tier.STANDARD, "high": Tier.EXPERT}
COMPLEXITY_FOR_TIER: dict[str, str] = {t.value: c for c, t in TIER_FOR_COMPLEXITY.items()}
# Which tier answers when a tier's provider fails: the nearest one, the more capable first.
FALLBACKS: dict[Tier, tuple[Tier, ...]] = {
    Tier.FAST: (Tier.STANDARD, Tier.EXPERT),
    Tier.STANDARD: (Tier.EXPERT, Tier.FAST),
    Tier.EXPERT: (Tier.STANDARD, Tier.FAST),
}


@dataclass(frozen=True)
class ToolInfo:
    """What the graph must know about a tool besides its schema."""

    reads_account: bool  # reads the caller's organization or user: its output is private
    expert_only: bool = False
    # Offered to every signed-in user whatever the intent (it acts only on the caller).
    self_service: bool = False


# Filled from the active domain pack (``activate``): every tool, what it reads, and its tier.
TOOLS: dict[str, ToolInfo] = {}
# Tools that read no account data: their output is the same for every caller.
PUBLIC_TOOLS: frozenset[str] = frozenset()
# Each tool's import reference (``module:attribute``), for ``switchyard.tools.registry``.
TOOL_REFS: dict[str, str] = {}


@dataclass(frozen=True)
class Intent:
    """One kind of request.

    ``personal``: the answer may need the signed-in customer's account (a user is required and the
    request's tools may read the organization). ``strategic``: a recommendation that depends on
    the asker's situation; never cached. ``fixed_actions``: tool steps the fast tier runs in order
    with no model choosing them. ``tools``: what the request may need beyond the public tools.
    """

    complexity: str  # low | medium | high; out_of_scope has no fixed complexity ("any")
    personal: bool = False
    tools: tuple[str, ...] = ()
    description: str = ""
    strategic: bool = False
    fixed_actions: tuple[tuple[str, dict[str, Any]], ...] = field(default_factory=tuple)

    @property
    def requires_auth(self) -> bool:
        return self.personal


# Filled from the active domain pack, in the manifest's order.
INTENTS: dict[str, Intent] = {}
_ACTIVE: list[DomainPack] = []


def activate(pack: DomainPack) -> DomainPack:
    """Make ``pack`` the process's domain: its intents and tools fill ``INTENTS`` and ``TOOLS``
    (in place, so modules that imported them see the change). One domain per process: the front
    door (``switchyard.app.Switchyard``) activates its settings' pack before building anything.
    Returns the pack that was active before."""
    global PUBLIC_TOOLS
    previous = _ACTIVE[0] if _ACTIVE else pack
    m = pack.manifest
    tools = {name: ToolInfo(reads_account=t.reads_account, expert_only=t.expert_only,
                            self_service=t.self_service) for name, t in m.tools.items()}
    intents = {
        name: Intent(COMPLEXITY_FOR_HINT[i.tier], i.personal, tuple(i.tools), i.description,
                     strategic=i.strategic,
                     fixed_actions=tuple((a.tool, dict(a.args)) for a in i.actions))
        for name, i in m.intents.items()
    }
    # Every dependent (the tools, the cache guard) prepares first and may refuse the pack;
    # only then does anything change, so a bad pack leaves the active one whole.
    commits = [prepare(pack) for prepare in _ON_ACTIVATE]
    TOOLS.clear()
    TOOLS.update(tools)
    TOOL_REFS.clear()
    TOOL_REFS.update({name: t.ref for name, t in m.tools.items()})
    INTENTS.clear()
    INTENTS.update(intents)
    PUBLIC_TOOLS = frozenset(n for n, t in TOOLS.items() if not t.reads_account)
    _ACTIVE[:] = [pack]
    for commit in commits:
        commit()
    return previous


# Dependents' ``prepare(pack) -> commit()`` hooks (see ``on_activate``).
_ON_ACTIVATE: list[Callable[[DomainPack], Callable[[], None]]] = []


def on_activate(prepare: Callable[[DomainPack], Callable[[], None]]) -> None:
    """Register a dependent of the domain: ``prepare(pack)`` checks and builds what it needs
    from a pack being activated (raising ``PackError`` to refuse it) and returns ``commit()``,
    which installs it once every dependent has prepared."""
    _ON_ACTIVATE.append(prepare)


def active_pack() -> DomainPack:
    return _ACTIVE[0]


def product_name() -> str:
    return active_pack().manifest.product.name


def pack_from_env() -> DomainPack:
    """The pack SWITCHYARD_DOMAIN names, else the bundled default pack."""
    chosen = os.environ.get("SWITCHYARD_DOMAIN", "").strip()
    return load_pack_cached(Path(chosen) if chosen else default_pack_dir())


activate(pack_from_env())


def intent(name: str | None) -> Intent | None:
    return INTENTS.get(name or "")


def is_personal_intent(name: str | None) -> bool:
    found = intent(name)
    return bool(found and found.personal)


def is_strategic_intent(name: str | None) -> bool:
    found = intent(name)
    return bool(found and found.strategic)


def fixed_actions(name: str | None) -> tuple[tuple[str, dict[str, Any]], ...]:
    found = intent(name)
    return found.fixed_actions if found else ()


def tier_tool_names(tier: str) -> list[str]:
    """Every tool a tier may ever bind (the fast tier calls none; its fixed actions are steps)."""
    if tier == Tier.FAST:
        return []
    return [n for n, info in TOOLS.items() if tier == Tier.EXPERT or not info.expert_only]


def tools_for(tier: str, intent_name: str | None, *, signed_in: bool = True) -> list[str]:
    """Tool names a tier binds for one request: the intent's own tools plus the public ones.

    The expert may also use its expert-only tools when the intent asks for them. A signed-in user
    also gets the self-service tools (verifying their own identity). A request with no signed-in
    user gets only public tools; an unknown intent gets no account tools beyond self-service, so
    a misclassified request can never reach account data it was not expected to need.
    """
    wanted = set(PUBLIC_TOOLS)
    found = intent(intent_name)
    if signed_in:
        wanted |= {n for n, info in TOOLS.items() if info.self_service}
        if found is not None:
            wanted |= set(found.tools)
    return [n for n in tier_tool_names(tier) if n in wanted]


def reads_account(tool_names: list[str] | tuple[str, ...] | set[str]) -> bool:
    """True if any of these tools read account data (unknown names count as private)."""
    return any(TOOLS.get(n, ToolInfo(reads_account=True)).reads_account for n in tool_names)
