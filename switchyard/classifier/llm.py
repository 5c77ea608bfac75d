"""The article's classifier: one call to the fast tier's cheap model with structured output.

Costs real money and ~200 ms, so it is the fallback in ``cascade`` mode, or the whole classifier
in ``llm`` mode. Its own cost (usage metadata x the fast tier's prices) is recorded per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel

from switchyard.accounting import call_cost_usd
from switchyard.classifier.schema import Classification, LLMVerdict
from switchyard.domain import INTENTS, OUT_OF_SCOPE
from switchyard.settings import TIER_FOR_COMPLEXITY, get_settings

log = logging.getLogger(__name__)

# The article's prompt, extended with the intents/tools we route on and the conversation so far.
PROMPT = """Classify this support request into complexity level:
- low: Account lookup, simple troubleshooting, status checks
- medium: Debugging, process questions, basic customization
- high: Strategic analysis, architectural decisions, complex migrations

A short follow-up ("yes, do that", "and for last month?") has the complexity of the conversation
it continues. A request unrelated to the product {product} is out of scope (in_scope=false), but
still judge its complexity.

Intents (name: tier, tools): {intents}

{history}Request: {request}

Return JSON: {{"complexity": "low|medium|high", "reasoning": "...", "intent": "...",
"in_scope": true|false, "requires_auth": true|false, "tools_needed": [...]}}
"""


def _intent_list() -> str:
    return "; ".join(
        f"{name}: {meta.complexity}{', ' + '/'.join(meta.tools) if meta.tools else ''}"
        for name, meta in INTENTS.items()
    )


def build_prompt(text: str, history: list[str] | None = None) -> str:
    turns = [h for h in (history or []) if h.strip()][-get_settings().classifier.history_turns :]
    hist = "".join(f"Earlier user turn: {h}\n" for h in turns)
    return PROMPT.format(product="Quillstack", intents=_intent_list(), history=hist, request=text)


def default_chat_model() -> BaseChatModel:
    """ChatOpenAI on the fast tier's model (or classifier.llm_model), through the configured base_url."""
    from langchain_openai import ChatOpenAI

    s = get_settings()
    if not s.openai_api_key or s.offline:
        raise RuntimeError("the LLM classifier needs OPENAI_API_KEY (and offline mode off)")
    fast = s.tiers["fast"]
    return ChatOpenAI(
        model=s.classifier.llm_model or fast.model,
        base_url=s.openai_base_url,
        api_key=s.openai_api_key,
        temperature=0,
        timeout=fast.timeout_s,
        max_retries=fast.max_retries,
    )


class LLMClassifier:
    name = "llm"

    def __init__(self, chat_model: BaseChatModel | None = None) -> None:
        self._chat = chat_model
        self._runnable: Any = None

    @property
    def runnable(self) -> Any:
        if self._runnable is None:
            chat = self._chat or default_chat_model()
            # include_raw keeps the AIMessage so we can read usage_metadata for cost.
            self._runnable = chat.with_structured_output(LLMVerdict, include_raw=True)
        return self._runnable

    def _to_classification(self, out: dict, started: float) -> Classification:
        verdict = out.get("parsed")
        if verdict is None:
            raise ValueError(f"LLM classifier returned no parsable verdict: {out.get('parsing_error')}")
        if isinstance(verdict, dict):
            verdict = LLMVerdict(**verdict)
        usage = getattr(out.get("raw"), "usage_metadata", None) or {}
        tin, tout = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
        cost = call_cost_usd(tin, tout, get_settings().tiers["fast"])
        intent = verdict.intent if verdict.intent in INTENTS else verdict.intent or "unknown"
        in_scope = verdict.in_scope and intent != OUT_OF_SCOPE
        meta = INTENTS.get(intent)
        tools = verdict.tools_needed or (list(meta.tools) if meta else [])
        return Classification(
            complexity=verdict.complexity,
            requires_auth=verdict.requires_auth or bool(meta and meta.requires_auth),
            tools_needed=tools if in_scope else [],
            recommended_agent=TIER_FOR_COMPLEXITY[verdict.complexity] if in_scope else "fast",
            reasoning=verdict.reasoning,
            # Structured output gives no calibrated probability; report a fixed, honest prior.
            confidence=0.8,
            intent=intent if in_scope else OUT_OF_SCOPE,
            in_scope=in_scope,
            scores={c: (1.0 if c == verdict.complexity else 0.0) for c in ("low", "medium", "high")},
            classifier=self.name,
            cost_usd=round(cost, 8),
            tokens=tin + tout,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def classify(self, text: str, *, embedding: Any = None, history: list[str] | None = None) -> Classification:
        t0 = time.perf_counter()
        return self._to_classification(self.runnable.invoke(build_prompt(text, history)), t0)

    async def aclassify(
        self, text: str, *, embedding: Any = None, history: list[str] | None = None
    ) -> Classification:
        t0 = time.perf_counter()
        return self._to_classification(await self.runnable.ainvoke(build_prompt(text, history)), t0)

    def classify_many(
        self, texts: Sequence[str], histories: Sequence[list[str] | None] | None = None
    ) -> list[Classification]:
        histories = histories or [None] * len(texts)
        return [self.classify(t, history=h) for t, h in zip(texts, histories, strict=True)]
