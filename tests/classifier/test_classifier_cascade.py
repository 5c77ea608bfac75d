"""LLM and cascade classifiers, offline: a fake chat model stands in for ChatOpenAI."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from switchyard.classifier.cascade import CascadeClassifier
from switchyard.classifier.llm import LLMClassifier, build_prompt
from switchyard.classifier.local import LocalClassifier, load_or_fit
from switchyard.llm.factory import ModelFactory


class FakeClassifierChat(BaseChatModel):
    """Answers every prompt with one structured-output tool call and token usage."""

    verdict: dict[str, Any] = {"complexity": "high", "reasoning": "strategic migration", "intent": "migration_planning",
                               "in_scope": True, "requires_auth": True, "tools_needed": ["estimate_migration"]}
    calls: int = 0
    fail: bool = False

    @property
    def _llm_type(self) -> str:
        return "fake-classifier"

    def bind_tools(self, tools: Any, **kwargs: Any) -> FakeClassifierChat:
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        self.calls += 1
        if self.fail:
            raise RuntimeError("provider down")
        msg = AIMessage(
            content="",
            tool_calls=[{"name": "LLMVerdict", "args": self.verdict, "id": f"call_{self.calls}"}],
            usage_metadata={"input_tokens": 400, "output_tokens": 40, "total_tokens": 440},
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


@pytest.fixture(scope="module")
def local(sy) -> LocalClassifier:
    s = sy.settings
    return LocalClassifier(s, sy.encoder, load_or_fit(s.classifier_path, sy.encoder,
                                                      s.routing_data_dir))


@pytest.fixture(scope="module")
def models(settings) -> ModelFactory:
    return ModelFactory(settings)


def _expected_cost(settings) -> float:
    fast = settings.tiers["fast"]
    return 400 * fast.input_per_m / 1e6 + 40 * fast.output_per_m / 1e6


def test_llm_classifier_records_its_cost(models) -> None:
    fake = FakeClassifierChat()
    c = LLMClassifier(models, chat_model=fake).classify("We need to move 12k users from our legacy tool")
    assert fake.calls == 1
    assert c.complexity == "high" and c.recommended_agent == "expert" and c.classifier == "llm"
    assert c.tokens == 440 and c.cost_usd == pytest.approx(_expected_cost(models.settings))


def test_llm_out_of_scope_is_deflected(models) -> None:
    fake = FakeClassifierChat(verdict={"complexity": "high", "reasoning": "off-topic strategy",
                                       "intent": "out_of_scope", "in_scope": False})
    c = LLMClassifier(models, chat_model=fake).classify("Write a 5-year market-entry strategy for my bakery chain")
    assert not c.in_scope and c.complexity == "high" and c.recommended_agent == "fast"


def test_prompt_is_the_articles_with_history() -> None:
    p = build_prompt("yes, please do that", ["I want to migrate 10K users"])
    assert "Strategic analysis, architectural decisions, complex migrations" in p
    assert "Earlier user turn: I want to migrate 10K users" in p and "Request: yes, please do that" in p


def test_cascade_skips_llm_when_local_is_confident(local: LocalClassifier, models) -> None:
    fake = FakeClassifierChat()
    casc = CascadeClassifier(local=local, llm=LLMClassifier(models, chat_model=fake), threshold=0.55)
    c = casc.classify("I forgot my password")
    assert c.confidence >= 0.55
    assert fake.calls == 0 and c.classifier == "cascade:local" and c.cost_usd == 0.0
    assert c.recommended_agent == "fast"


def test_cascade_asks_llm_below_threshold(local: LocalClassifier, models) -> None:
    fake = FakeClassifierChat()
    casc = CascadeClassifier(local=local, llm=LLMClassifier(models, chat_model=fake), threshold=1.01)  # everything is "unsure"
    c = casc.classify("I forgot my password")
    assert fake.calls == 1 and c.classifier == "cascade:llm"
    assert c.recommended_agent == "expert"  # the (fake) LLM's verdict wins
    assert c.cost_usd == pytest.approx(_expected_cost(models.settings))
    a = asyncio.run(casc.aclassify("What plan am I on?"))
    assert fake.calls == 2 and a.classifier == "cascade:llm"


def test_cascade_batch_only_sends_unsure_rows(local: LocalClassifier, models) -> None:
    fake = FakeClassifierChat()
    casc = CascadeClassifier(local=local, llm=LLMClassifier(models, chat_model=fake), threshold=0.55)
    texts = ["I forgot my password", "What's my account balance?", "hi"]
    out = casc.classify_many(texts)
    unsure = sum(1 for t in texts if local.classify(t).confidence < 0.55)
    assert fake.calls == unsure and len(out) == 3


def test_cascade_keeps_local_verdict_when_llm_fails(local: LocalClassifier, models) -> None:
    fake = FakeClassifierChat(fail=True)
    casc = CascadeClassifier(local=local, llm=LLMClassifier(models, chat_model=fake), threshold=1.01)
    c = casc.classify("What's my account balance?")
    assert fake.calls >= 1 and c.classifier == "cascade:local" and c.recommended_agent == "fast"
