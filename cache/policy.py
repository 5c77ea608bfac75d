"""What may be cached, for how long, and which answers may be stored.

The graph calls :func:`cache_policy` before the lookup (a skipped lookup costs nothing) and
:func:`is_storable` after the agent answered. ``probe``/``calibrate`` use the same functions, so
they measure exactly what the graph does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from switchyard.cache.base import intent_key
from switchyard.cache.guard import extract_facts
from switchyard.cache.verify import question_focus
from switchyard.core.domain import is_strategic_intent
from switchyard.core.settings import CacheSettings, Settings

if TYPE_CHECKING:
    import numpy as np

    from switchyard.cache.base import CachedAnswer

# Intent names (or fragments) that denote strategic recommendations: never cached, because the
# advice depends on the customer's situation at the time and goes stale silently.
_STRATEGIC_TEXT = re.compile(
    r"\b(?:recommend\w*|advis\w*|best (?:approach|strategy|way forward|option)|"
    r"should (?:we|i) (?:use|choose|pick|go with|switch|migrate|upgrade|downgrade|move|buy|adopt|invest)|"
    r"which \w+ (?:\w+ )?should (?:we|i)|"
    r"strateg\w*|roadmap|pros and cons|trade-?offs?|worth (?:it|upgrading|switching))\b",
    re.IGNORECASE,
)


# Questions that ask for an account fact itself; "how do I pay my balance?" (how) or "why is my
# balance negative?" (why) ask something else about it and go through the similarity search.
_FACT_FOCUS = (None, "how much/many")


def request_intent_key(
    intent: str | None,
    text: str,
    settings: Settings | CacheSettings,
    intent_scores: dict[str, float] | None = None,
) -> str | None:
    """The exact key a personal request's answer is stored under, or None if it has none.

    ``intent_key(intent, facts)``: the facts are everything the fact guard compares (numbers,
    dates, ids, entities, names, negation, someone else's account, opposite words), so "what was
    my balance last month?" and "what's my colleague's balance?" get keys of their own. Used in
    the user's own partition only, which already holds the hash of the user id.
    """
    cs = _cache_settings(settings)
    if intent is None or intent not in cs.keyed_intents:
        return None
    if (intent_scores or {}).get(intent, 0.0) < cs.intent_key_min_probability:
        return None
    if question_focus(text) not in _FACT_FOCUS:
        return None
    f = extract_facts(text)
    slots = {
        "numbers": f.numbers, "dates": f.dates, "ids": f.ids, "entities": f.entities,
        "names": f.cap_words,
        "poles": frozenset(f"{group}.{pole}" for group, poles in f.poles for pole in poles),
    }
    values: dict[str, object] = {k: " ".join(sorted(v)) or None for k, v in slots.items()}
    values.update(negated="yes" if f.negated else None,
                  someone_else="yes" if f.third_party else None)
    return intent_key(intent, values)


@dataclass(frozen=True)
class CachePolicy:
    cacheable: bool
    ttl_s: float | None
    reason: str


def _cache_settings(settings: Settings | CacheSettings) -> CacheSettings:
    if isinstance(settings, CacheSettings):
        return settings
    return settings.cache


def strategic_probability(intent_scores: dict[str, float] | None, settings: CacheSettings) -> float:
    """The classifier's probability that the request is a strategic recommendation."""
    return sum(p for name, p in (intent_scores or {}).items() if is_strategic_intent(name))


def is_strategic(
    intent: str | None, text: str, settings: CacheSettings, intent_scores: dict[str, float] | None = None
) -> bool:
    """Strategic by the predicted intent, by the wording, or by a material probability of a
    strategic intent: a wrongly cached recommendation is worse than a missed cache hit."""
    if is_strategic_intent(intent):
        return True
    if strategic_probability(intent_scores, settings) >= settings.strategic_min_probability:
        return True
    return bool(_STRATEGIC_TEXT.search(text))


def cache_policy(
    *,
    complexity: str,
    intent: str | None,
    in_scope: bool,
    text: str,
    settings: Settings | CacheSettings,
    intent_scores: dict[str, float] | None = None,
) -> CachePolicy:
    """Decide whether this request may use the cache, and the TTL of what it would store."""
    cs = _cache_settings(settings)
    if not cs.enabled:
        return CachePolicy(False, None, "skipped: cache disabled")
    if not text.strip():
        return CachePolicy(False, None, "skipped: empty input")
    if len(text) > cs.max_cacheable_chars:
        return CachePolicy(False, None, "skipped: input too long")
    if not in_scope:
        # A deflection ("I can only help with <product>"). Where it is kept (shared, or only
        # the asker's) is decided when it is stored, from what it was built from: a deflection
        # written with the conversation in its prompt is the asker's, like any other answer.
        ttl = cs.ttl_s.get("low")
        if ttl is None or ttl <= 0:
            return CachePolicy(False, None, "skipped: out-of-scope caching disabled")
        return CachePolicy(True, float(ttl), "cacheable: out-of-scope deflection")
    if complexity == "high":
        return CachePolicy(False, None, "skipped: high complexity never cached")
    if complexity not in cs.ttl_s:
        return CachePolicy(False, None, f"skipped: unknown complexity {complexity!r}")
    if is_strategic(intent, text, cs, intent_scores):
        return CachePolicy(False, None, "skipped: strategic recommendation never cached")
    if intent is not None and intent in cs.intent_ttl_s:
        ttl = cs.intent_ttl_s[intent]
        if ttl is None or ttl <= 0:
            return CachePolicy(False, None, f"skipped: intent {intent} never cached")
        return CachePolicy(True, float(ttl), f"cacheable: intent {intent} ttl {ttl:g}s")
    ttl = cs.ttl_s.get(complexity)
    if ttl is None or ttl <= 0:
        return CachePolicy(False, None, f"skipped: {complexity} complexity never cached")
    return CachePolicy(True, float(ttl), f"cacheable: {complexity} complexity ttl {ttl:g}s")


# What an answer may be built from and still be shared: the help centre's passages, tools that
# read no account, and the request's own text. Anything else (an earlier turn of the
# conversation, account data, a tool that reads an account, an input this list does not know)
# keeps the answer in the asker's partition.
PUBLIC_INPUTS = frozenset({"request", "passages", "public_tools"})


def storage_scope(provenance: Mapping[str, Any] | None) -> Literal["shared", "personal"]:
    """Where an answer built from ``provenance`` may be kept; no flag or policy widens it.

    ``provenance`` (``switchyard.agents.common.provenance``) lists the run's ``inputs``; an answer
    whose provenance is missing, or names any input outside :data:`PUBLIC_INPUTS`, is personal.
    """
    prov = provenance or {}
    inputs = prov.get("inputs")
    if not isinstance(inputs, list | tuple | set | frozenset) or not inputs:
        return "personal"  # nothing says what the answer was built from: assume the worst
    if prov.get("account_data") or prov.get("conversation"):
        return "personal"
    return "shared" if set(inputs) <= PUBLIC_INPUTS else "personal"


def is_storable(
    answer_text: str,
    *,
    errored: bool,
    truncated: bool,
    refused: bool,
    tool_failed: bool,
    strategic: bool,
) -> tuple[bool, str]:
    """Only complete, successful, non-strategic answers are worth serving twice."""
    if errored:
        return False, "not stored: errored"
    if truncated:
        return False, "not stored: truncated"
    if refused:
        return False, "not stored: refused"
    if tool_failed:
        return False, "not stored: a tool failed"
    if strategic:
        return False, "not stored: strategic recommendation"
    if not answer_text or not answer_text.strip():
        return False, "not stored: empty answer"
    return True, "stored"


def store_refusal(
    text: str, embedding: np.ndarray, answer: CachedAnswer, now: float, settings: CacheSettings,
    dim: int,
) -> str | None:
    """Why a backend must refuse to store this entry, or None. Defence in depth: the graph checks
    the policy too, but the store is the last gate (every backend calls this)."""
    if answer.complexity == "high":
        return "high complexity never cached"
    if answer.expires_at <= now:
        return "already expired"
    if len(text) > settings.max_cacheable_chars:
        return "input too long"
    if embedding.shape[-1] != dim:
        return f"embedding has {embedding.shape[-1]} dims, expected {dim}"
    return None
