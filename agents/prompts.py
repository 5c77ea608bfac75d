"""Prompts for the three agents, for the active domain pack's product. ``PROMPT_VERSION`` hashes them all, and is part of the cache
partition: changing a prompt never serves answers written under the old one. (The offline model
learns which step it is answering from the call's metadata, never from markers in the prompts.)
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from switchyard.core.domain import active_pack
from switchyard.llm.offline import passage_body, word_stems


def _templates(product: str, scope: str, help_topics: str) -> dict[str, str]:
    """Every prompt for one product (the active domain pack's name and scope), before the pack's
    own ``[prompts]`` overrides."""
    PRODUCT = product  # noqa: N806 - the name the templates below read
    FAST_SYSTEM = f"""You are {PRODUCT}'s support assistant (fast tier). Answer briefly and only from the help-center
passages in <context>, the customer's account snapshot in <account> and the result of any action
in <action>. Cite passages as [n]. If they do not answer the question, say so and ask for the detail
you need. Never invent numbers, prices or account data."""

    DEFLECT_SYSTEM = textwrap.fill(
        f"You are {PRODUCT}'s support assistant. The request is outside {PRODUCT} support. In two "
        f"sentences, politely say you can't help with it and list what you can help with ({scope}). "
        "Do not answer the request.", width=100)

    STANDARD_SYSTEM = f"""You are {PRODUCT}'s support engineer (standard tier). Use the tools to look up the customer's own data
when the question needs them; tools act only on the signed-in customer. Then answer step by step
from the tool results and the help-center passages in <context>, citing passages as [n]. If a tool
returns ERROR, tell the customer plainly what went wrong and what to do next."""

    EXPERT_PLAN_SYSTEM = f"""You are {PRODUCT}'s solutions architect (expert tier). Before answering, write a short numbered plan:
the goal, what to retrieve from the help center, which tools to call for facts, what to compute,
and how to structure the recommendation. Available tools:
{{tool_list}}"""

    EXPERT_AGENT_SYSTEM = f"""You are {PRODUCT}'s solutions architect (expert tier). Follow the plan in <plan>. Call tools for the
customer's real data rather than assuming. Draft a thorough answer grounded in tool results and the
passages in <context>, citing [n]."""

    EXPERT_REFLECT_SYSTEM = """You review a draft answer before it reaches the customer. Check every figure and claim in <draft>
against <evidence> (tool results and passages). Reply "OK: ..." if it holds, or "REVISE: ..."
listing what is unsupported or missing."""

    EXPERT_SYNTHESIZE_SYSTEM = """You write the final answer for the customer from the <draft>, the <plan> and the reviewer's
<review>: fix what the review flagged, keep figures that the evidence supports, structure it as a
recommendation with phases, risks and trade-offs, and keep the citations [n]."""

    # The fast tier on a small local model (catalogue ``small``, e.g. SmolLM2-135M): a short
    # instruction it can follow; the passages go in the user turn (render_small_context). Measured
    # in research r29 (docs/local-models.md): with this layout SmolLM2 copies the steps it is given.
    FAST_SYSTEM_SMALL = f"""You are {PRODUCT} support. Answer the question with the steps or facts from the help text. Copy their words. Write 1 to 3 short sentences. Do not add anything that is not in the help text."""

    # A small model's deflection is no better than a fixed one (SmolLM2 answered "The most fun
    # fact about <product> is that it's a team of 1000 people"), so out-of-scope requests get this.
    SMALL_DEFLECTION = (f"I'm the {PRODUCT} support assistant, so that's outside what I can help "
                        f"with. I can help with {help_topics}.")
    return {k: v for k, v in locals().items() if k.isupper() and k != "PRODUCT"}


_ORDER = ("FAST_SYSTEM", "FAST_SYSTEM_SMALL", "SMALL_DEFLECTION", "DEFLECT_SYSTEM", "STANDARD_SYSTEM",
          "EXPERT_PLAN_SYSTEM", "EXPERT_AGENT_SYSTEM", "EXPERT_REFLECT_SYSTEM",
          "EXPERT_SYNTHESIZE_SYSTEM")


@dataclass(frozen=True)
class Prompts:
    """The active domain's prompts, and ``version``: their hash, part of the cache partition."""

    product: str
    texts: dict[str, str]
    version: str

    def __getattr__(self, name: str) -> str:
        try:
            return self.texts[name]
        except KeyError:
            raise AttributeError(name) from None


@lru_cache(maxsize=8)
def _build(product: str, scope: str, help_topics: str,
           overrides: tuple[tuple[str, str], ...] = ()) -> Prompts:
    texts = _templates(product, scope, help_topics)
    for key, text in overrides:  # the pack's own wording; {product} is its name
        texts[key.upper()] = text.replace("{product}", product)
    version = hashlib.sha256("\n".join(texts[k] for k in _ORDER).encode()).hexdigest()[:10]
    return Prompts(product, texts, version)


def current() -> Prompts:
    """The prompts for the active domain pack (``switchyard.core.domain.activate``)."""
    manifest = active_pack().manifest
    spec = manifest.product
    return _build(spec.name, spec.scope, spec.help_topics or spec.scope,
                  tuple(sorted(manifest.prompts.items())))


def __getattr__(name: str) -> str:
    """``prompts.FAST_SYSTEM`` and friends, ``PRODUCT`` and ``PROMPT_VERSION``: the active
    domain's, read when asked (never a stale copy from import time)."""
    if name == "PRODUCT":
        return current().product
    if name == "PROMPT_VERSION":
        return current().version
    if name == "ALL_PROMPTS":
        return tuple(current().texts[k] for k in _ORDER)  # type: ignore[return-value]
    if name in _ORDER:
        return current().texts[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def render_passages(passages: Iterable[Mapping[str, Any]]) -> str:
    """``[n] Title (source: url)`` then the text; the format the offline model parses."""
    blocks = [
        f"[{i}] {p['title']} (source: {p['url']})\n{p['text'].strip()}"
        for i, p in enumerate(passages, start=1)
    ]
    return "<context>\n" + ("\n\n".join(blocks) or "(no relevant passages found)") + "\n</context>"


def render_account(snapshot: Mapping[str, Any] | None) -> str:
    if not snapshot:
        return ""
    lines = "\n".join(f"{k.replace('_', ' ')}: {v}" for k, v in snapshot.items() if v is not None)
    return f"<account>\n{lines}\n</account>"


def render_tool_list(tools: Iterable[Any]) -> str:
    return "\n".join(f"- {t.name}: {t.description.splitlines()[0]}" for t in tools)


def render_small_context(question: str, passages: Sequence[Mapping[str, Any]],
                         account: Mapping[str, Any] | None = None, action: str = "", *,
                         budget_chars: int = 600, account_budget_chars: int = 250) -> str:
    """The user turn for a small model: the account lines that share a word with the question,
    then the passages that do, in retrieval order, without their breadcrumb line and without
    ``[n]`` markers (SmolLM2 wrote "click [2]" for the words), ``budget_chars`` in all, cut at a
    sentence or line end (``account_budget_chars`` when the account lines answer), then the
    action's result and the question. ~120-310 prompt tokens instead of ~930."""
    q = word_stems(question)
    facts: list[str] = []
    if account:
        rows = [f"{k.replace('_', ' ')}: {v}" for k, v in account.items() if v is not None]
        facts = [r for r in rows if q & word_stems(r)][:3]
    budget = min(budget_chars, account_budget_chars) if facts else budget_chars
    parts: list[str] = []
    used = 0
    for p in passages:
        body = passage_body({"title": str(p.get("title", "")), "text": str(p.get("text", ""))})
        body = re.sub(r"\n\s*\n", "\n", body).strip()
        if used >= budget or not (q & word_stems(body)):
            continue
        cut = body[: budget - used]
        if len(cut) < len(body):
            end = max(cut.rfind(". "), cut.rfind("\n"))
            cut = cut[: end + 1] if end > 80 else cut
        parts.append(cut.strip())
        used += len(cut)
    blocks = ["Help text:\n" + ("\n\n".join(parts) if parts else "(nothing found)")]
    if facts:
        blocks.insert(0, "Account:\n" + "\n".join(facts))
    if action.strip():
        blocks.append("Done for the customer:\n" + action.strip())
    blocks.append(f"Question: {question.strip()}")
    return "\n\n".join(blocks)
