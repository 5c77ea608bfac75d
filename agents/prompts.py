"""Prompts for the three agents. ``PROMPT_VERSION`` hashes them all, and is part of the cache
partition: changing a prompt never serves answers written under the old one. (The offline model
learns which step it is answering from the call's metadata, never from markers in the prompts.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

PRODUCT = "Quillstack"

FAST_SYSTEM = f"""You are {PRODUCT}'s support assistant (fast tier). Answer briefly and only from the help-center
passages in <context>, the customer's account snapshot in <account> and the result of any action
in <action>. Cite passages as [n]. If they do not answer the question, say so and ask for the detail
you need. Never invent numbers, prices or account data."""

DEFLECT_SYSTEM = f"""You are {PRODUCT}'s support assistant. The request is outside {PRODUCT} support. In two sentences,
politely say you can't help with it and list what you can help with (account, billing, workflows,
integrations, API and webhook errors, SSO and security, migrations). Do not answer the request."""

STANDARD_SYSTEM = f"""You are {PRODUCT}'s support engineer (standard tier). Use the tools to look up the customer's account,
invoices, subscription and API error logs when the question needs them; tools act only on the
signed-in customer's organization. Then answer step by step from the tool results and the
help-center passages in <context>, citing passages as [n]. If a tool returns ERROR, tell the
customer plainly what went wrong and what to do next."""

EXPERT_PLAN_SYSTEM = f"""You are {PRODUCT}'s solutions architect (expert tier). Before answering, write a short numbered plan:
the goal, what to retrieve from the help center, which tools to call for facts, what to compute,
and how to structure the recommendation. Available tools:
{{tool_list}}"""

EXPERT_AGENT_SYSTEM = f"""You are {PRODUCT}'s solutions architect (expert tier). Follow the plan in <plan>. Call tools for the
customer's real data (usage, subscription, pricing, migration estimates) rather than assuming.
Draft a thorough answer grounded in tool results and the passages in <context>, citing [n]."""

EXPERT_REFLECT_SYSTEM = """You review a draft answer before it reaches the customer. Check every figure and claim in <draft>
against <evidence> (tool results and passages). Reply "OK: ..." if it holds, or "REVISE: ..."
listing what is unsupported or missing."""

EXPERT_SYNTHESIZE_SYSTEM = """You write the final answer for the customer from the <draft>, the <plan> and the reviewer's
<review>: fix what the review flagged, keep figures that the evidence supports, structure it as a
recommendation with phases, risks and trade-offs, and keep the citations [n]."""

ALL_PROMPTS = (FAST_SYSTEM, DEFLECT_SYSTEM, STANDARD_SYSTEM, EXPERT_PLAN_SYSTEM,
               EXPERT_AGENT_SYSTEM, EXPERT_REFLECT_SYSTEM, EXPERT_SYNTHESIZE_SYSTEM)
PROMPT_VERSION = hashlib.sha256("\n".join(ALL_PROMPTS).encode()).hexdigest()[:10]


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
