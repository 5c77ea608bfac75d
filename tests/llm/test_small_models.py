"""Small local models (issue 29): per-model sampling settings in the catalogue, sent to local
tiers only; a bounded budget; the answer streamed through the repetition cut, which closes the
stream at the first repetition so the server stops generating.

The request bodies are checked against ``tests/support/openai_server.py``: as OpenAI it rejects
llama.cpp's sampling fields (HTTP 400, as the real API does), as llama.cpp it accepts them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage
from support.openai_server import LLAMA_CPP_FIELDS, OpenAIContractServer

from switchyard.core.settings import Settings, TierModel
from switchyard.llm.catalog import CatalogError, catalog, parse_catalog
from switchyard.llm.factory import ModelFactory
from switchyard.llm.metered import MeteredChatOpenAI
from switchyard.llm.repetition import find_repetition
from switchyard.llm.rules import request_rules

ASK = [HumanMessage("Can I change my profile picture?")]
LOOP = ("Open the avatar menu and choose Profile. "
        + "You can change your profile picture by clicking the photo you want to change. " * 60)


@pytest.fixture(scope="module")
def llama_server() -> Iterator[OpenAIContractServer]:
    """A server that, like llama-server, accepts llama.cpp's sampling fields."""
    server = OpenAIContractServer(dialect="llama.cpp").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def llama(llama_server: OpenAIContractServer) -> OpenAIContractServer:
    llama_server.reset()
    return llama_server


def local_fast(server: OpenAIContractServer, model: str = "smollm2-135m",
               **fast: Any) -> Settings:
    """The fast tier as `switchyard local-model start` prints it; the others offline."""
    return Settings(offline=False, tiers={
        "fast": {"provider": "local", "base_url": server.base_url, "model": model,
                 "supports_tools": False, **fast},
        "standard": {"provider": "offline"}, "expert": {"provider": "offline"}})


# -- the catalogue -------------------------------------------------------------------------------

def test_the_bundled_model_has_its_sampling_settings_in_the_catalogue() -> None:
    s = catalog().sampling_of("smollm2-135m")
    assert s.small and s.cut_repetition and s.max_tokens_cap == 80 and s.default_temperature == 0
    # Penalties off (they push a small model away from its passages), stop sequences on.
    assert s.sampling["repeat_penalty"] == 1.0 and s.sampling["dry_multiplier"] == 0.0
    assert "Question:" in s.sampling["stop"]
    # Another SmolLM2 GGUF (a file name as its alias) is in the family; hosted models are not.
    assert catalog().sampling_of("SmolLM2-360M-Instruct-Q8_0").small
    plain = catalog().sampling_of("gpt-4o-mini")
    assert not plain.small and not plain.cut_repetition and plain.sampling == {}


def _catalogue(family: dict[str, Any], model: dict[str, Any] | None = None) -> Any:
    data: dict[str, Any] = {"families": {
        "chat": {"temperature": True, "reasoning_effort": False, "default": True},
        "tiny": {"temperature": True, "reasoning_effort": False, "match": ["^tiny"], **family}}}
    if model is not None:
        data["models"] = {"tiny-1": {"family": "tiny", "input": 0, "output": 0, **model}}
    return parse_catalog(data)


def test_a_model_entry_overrides_its_familys_settings_field_by_field() -> None:
    cat = _catalogue({"small": True, "max_tokens_cap": 80, "default_temperature": 0.0,
                      "sampling": {"repeat_penalty": 1.0, "stop": ["Q:"]}},
                     {"max_tokens_cap": 120, "sampling": {"repeat_penalty": 1.1}})
    own = cat.sampling_of("tiny-1")
    assert own.max_tokens_cap == 120 and own.default_temperature == 0.0
    assert own.sampling == {"repeat_penalty": 1.1, "stop": ["Q:"]}
    assert cat.sampling_of("tiny-2").max_tokens_cap == 80  # matched by the family's pattern


@pytest.mark.parametrize("family,message", [
    ({"sampling": {"repeat_last_n": -1}}, "repeat_last_n must be >= 0"),
    ({"sampling": {"dry_penalty_last_n": -1}}, "dry_penalty_last_n must be >= 0"),
    ({"sampling": {"dry_sequence_breakers": []}}, "empty list"),
    ({"sampling": {"max_tokens": 80}}, "set by switchyard itself"),
    ({"sampling": {"temperature": 0}}, "set by switchyard itself"),
    ({"sampling": {"logit_bias": {"1": 2}}}, "must be a number, a string"),
    ({"sampling": "greedy"}, "must be a table"),
    ({"max_tokens_cap": 0}, "positive integer"),
    ({"max_tokens_cap": "80"}, "positive integer"),
    ({"default_temperature": 5}, "between 0 and 2"),
])
def test_a_bad_sampling_setting_is_a_clear_error_when_the_catalogue_loads(
        family: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogError, match=message) as err:
        _catalogue(family)
    assert "family 'tiny'" in str(err.value)


# -- request rules -------------------------------------------------------------------------------

def test_a_local_small_model_gets_its_sampling_a_capped_budget_and_greedy_decoding() -> None:
    rules = request_rules(TierModel(model="smollm2-135m", provider="local", ttft_ms=1,
                                    tokens_per_s=1, max_tokens=400))
    assert rules.small and rules.cut_repetition
    assert rules.max_completion_tokens == rules.max_tokens == 80  # min(tier 400, cap 80)
    assert rules.temperature == 0.0
    assert rules.extra_body["repeat_penalty"] == 1.0 and rules.extra_body["stop"]


def test_a_temperature_set_on_the_tier_wins_and_a_smaller_budget_stays() -> None:
    rules = request_rules(TierModel(model="smollm2-135m", provider="local", ttft_ms=1,
                                    tokens_per_s=1, max_tokens=40, temperature=0.7))
    assert rules.temperature == 0.7 and rules.max_completion_tokens == 40


def test_sampling_fields_go_to_local_tiers_only() -> None:
    hosted = request_rules(TierModel(model="smollm2-135m", provider="openai", ttft_ms=1,
                                     tokens_per_s=1, max_tokens=400, input_per_m=0,
                                     output_per_m=0))
    assert hosted.extra_body == {} and hosted.max_tokens is None
    assert hosted.small  # still a small model: short prompt, no bigger-budget retry


def test_the_offline_stand_in_is_no_small_model() -> None:
    factory = ModelFactory(Settings(tiers={"fast": {"model": "smollm2-135m",
                                                    "provider": "offline"}}))
    rules = factory.rules("fast")
    assert not rules.small and not rules.cut_repetition and rules.extra_body == {}


# -- what goes over the wire ---------------------------------------------------------------------

def test_a_local_tier_sends_the_catalogues_fields_and_llama_cpp_accepts_them(
        llama: OpenAIContractServer) -> None:
    model = ModelFactory(local_fast(llama)).chat_model("fast")
    assert isinstance(model, MeteredChatOpenAI) and model.streaming and model.cut_repetition
    reply = asyncio.run(model.ainvoke(ASK))
    assert reply.content
    body = llama.bodies("smollm2-135m")[0]
    assert body["max_tokens"] == 80 and body["max_completion_tokens"] == 80
    assert body["temperature"] == 0.0 and body["stream"] is True
    for key, value in catalog().sampling_of("smollm2-135m").sampling.items():
        assert body[key] == value, key


def test_a_hosted_tier_never_sends_them_which_openai_would_reject(
        openai_server: OpenAIContractServer, llama: OpenAIContractServer) -> None:
    # The contract server answers 400 to llama.cpp's fields, as OpenAI does...
    factory = ModelFactory(local_fast(openai_server))
    with pytest.raises(Exception, match="Unrecognized request argument"):
        asyncio.run(factory.chat_model("fast").ainvoke(ASK))
    # ... and a hosted tier never sends them.
    openai_server.reset()
    hosted = Settings(offline=False, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=openai_server.base_url)
    asyncio.run(ModelFactory(hosted).chat_model("fast").ainvoke(ASK))
    body = openai_server.bodies("gpt-4o-mini")[0]
    assert not LLAMA_CPP_FIELDS & set(body) and "max_tokens" not in body
    assert openai_server.requests[0]["status"] == 200


# -- the repetition cut on the stream ------------------------------------------------------------

class Tokens(BaseCallbackHandler):
    """What a streaming client is shown (LangGraph's ``messages`` stream reads these)."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


def test_a_looping_stream_is_cut_at_its_first_repetition_and_closed(
        llama: OpenAIContractServer) -> None:
    # 60 copies of one sentence, streamed 16 characters every 10 ms (~3 s to the end).
    llama.script("smollm2-135m", answer=LOOP, stream_delay_s=0.01)
    model = ModelFactory(local_fast(llama)).chat_model("fast")
    tokens = Tokens()
    started = time.monotonic()
    reply = asyncio.run(model.ainvoke(ASK, config={"callbacks": [tokens]}))
    elapsed = time.monotonic() - started
    assert reply.content == ("Open the avatar menu and choose Profile. You can change your "
                             "profile picture by clicking the photo you want to change.")
    assert reply.response_metadata["finish_reason"] == "repetition"
    assert reply.response_metadata["repetition"] in ("sentence", "ngram")
    # The client was shown the kept text only: never a word of the repetition.
    assert "".join(tokens.tokens) == reply.content
    # The stream was closed at the repetition: the server stopped sending.
    deadline = time.monotonic() + 5
    while "stream_completed" not in llama.requests[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    log = llama.requests[0]
    assert not log["stream_completed"] and log["chunks_sent"] < len(LOOP) // 16 // 4, log
    assert elapsed < 2.0, f"{elapsed:.1f}s: the loop was read to its end"
    # No usage chunk arrived: the tokens are estimated, and say so.
    assert reply.usage_metadata and reply.response_metadata["usage_estimated"]


def test_a_clean_stream_is_passed_on_whole_with_the_servers_usage(
        llama: OpenAIContractServer) -> None:
    answer = ("1. On the sign-in page, click **Forgot password?**\n2. Enter the email address of "
              "your Quillstack account and click **Send reset link**.\n3. Open the email.")
    llama.script("smollm2-135m", answer=answer)
    tokens = Tokens()
    reply = asyncio.run(ModelFactory(local_fast(llama)).chat_model("fast").ainvoke(
        ASK, config={"callbacks": [tokens]}))
    assert reply.content == answer and "".join(tokens.tokens) == answer
    assert reply.response_metadata["finish_reason"] == "stop"
    assert not reply.response_metadata.get("usage_estimated")
    assert llama.requests[0]["stream_completed"]


def test_a_whole_answer_is_cut_too_when_not_streamed(llama: OpenAIContractServer) -> None:
    llama.script("smollm2-135m", answer=LOOP)
    model = ModelFactory(local_fast(llama)).chat_model("fast").model_copy(
        update={"streaming": False})
    reply = asyncio.run(model.ainvoke(ASK))
    assert find_repetition(str(reply.content)) is None
    assert reply.response_metadata["finish_reason"] == "repetition"
    assert llama.bodies()[0].get("stream") in (None, False)


def test_hosted_models_are_not_cut(openai_server: OpenAIContractServer) -> None:
    """The cut is a small-model setting: a hosted model's answer is passed on as it came."""
    openai_server.script("gpt-4o-mini", answer=LOOP)
    hosted = Settings(offline=False, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=openai_server.base_url)
    reply = asyncio.run(ModelFactory(hosted).chat_model("fast").ainvoke(ASK))
    assert reply.content == LOOP
