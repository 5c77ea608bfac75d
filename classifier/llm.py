"""The article's classifier: one call to a cheap model with structured output (strict json_schema).

Costs real money and ~200 ms, so it is the fallback in ``cascade`` mode, or the whole classifier
in ``llm`` mode. It runs on the fast tier's server with ``classifier.llm_model`` (default the fast
tier's model), its own short timeout (``classifier.llm_timeout_s``) and at most one retry. Its own
usage line (input and output tokens, priced at its own model's rates) rides on the
classification as ``usage``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage

from switchyard.classifier.schema import Classification, LLMVerdict
from switchyard.core.domain import INTENTS, OUT_OF_SCOPE, product_name
from switchyard.core.settings import TIER_FOR_COMPLEXITY
from switchyard.llm.accounting import usage_record
from switchyard.llm.factory import ModelFactory
from switchyard.llm.rules import ModelPrice

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


def build_prompt(text: str, history: list[str] | None = None, history_turns: int = 3) -> str:
    turns = [h for h in (history or []) if h.strip()][-history_turns:] if history_turns > 0 else []
    hist = "".join(f"Earlier user turn: {h}\n" for h in turns)
    return PROMPT.format(product=product_name(), intents=_intent_list(), history=hist, request=text)


def default_chat_model(factory: ModelFactory) -> BaseChatModel:
    """The classifier's model from the factory."""
    if factory.offline:
        raise RuntimeError("the LLM classifier needs a model: set OPENAI_API_KEY or a tier "
                           "base_url (and SWITCHYARD_OFFLINE off)")
    return factory.classifier_model()


class LLMClassifier:
    name = "llm"

    def __init__(self, factory: ModelFactory, *, chat_model: BaseChatModel | None = None,
                 price: ModelPrice | None = None) -> None:
        self._factory = factory
        self._chat = chat_model
        self._price = price
        self._runnable: Any = None
        self._history_turns = factory.settings.classifier.history_turns

    @property
    def price(self) -> ModelPrice:
        """The rates of the classifier's own model (not the fast tier's, if it differs)."""
        if self._price is None:
            self._price = self._factory.classifier_price()
        return self._price

    @property
    def deadline_s(self) -> float:
        """Longest a verdict may take: every attempt's timeout plus a little backoff."""
        cfg = self._factory.settings.classifier
        return cfg.llm_timeout_s * (1 + cfg.llm_max_retries) + 1.0

    @property
    def runnable(self) -> Any:
        if self._runnable is None:
            chat = self._chat or default_chat_model(self._factory)
            # include_raw keeps the AIMessage so we can read usage_metadata for cost.
            self._runnable = chat.with_structured_output(LLMVerdict, include_raw=True)
        return self._runnable

    def _to_classification(self, out: dict, started: float) -> Classification:
        verdict = out.get("parsed")
        if verdict is None:
            raise ValueError(f"LLM classifier returned no parsable verdict: {out.get('parsing_error')}")
        if isinstance(verdict, dict):
            verdict = LLMVerdict(**verdict)
        raw = out.get("raw")
        usage = usage_record("classify", "classifier", self.price,
                             raw if isinstance(raw, AIMessage) else AIMessage(content=""))
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
            cost_usd=usage["cost_usd"],
            tokens=usage["input_tokens"] + usage["output_tokens"],
            usage=usage,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def classify(self, text: str, *, embedding: Any = None, history: list[str] | None = None) -> Classification:
        t0 = time.perf_counter()
        return self._to_classification(self.runnable.invoke(build_prompt(text, history, self._history_turns)), t0)

    async def aclassify(
        self, text: str, *, embedding: Any = None, history: list[str] | None = None
    ) -> Classification:
        t0 = time.perf_counter()
        return self._to_classification(await self.runnable.ainvoke(build_prompt(text, history, self._history_turns)), t0)

    def classify_many(
        self, texts: Sequence[str], histories: Sequence[list[str] | None] | None = None
    ) -> list[Classification]:
        histories = histories or [None] * len(texts)
        return [self.classify(t, history=h) for t, h in zip(texts, histories, strict=True)]
