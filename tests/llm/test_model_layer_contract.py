"""The model layer against a local server enforcing OpenAI's request rules (issue 13).

Every model here is the real ``ChatOpenAI`` the factory builds, talking HTTP to
``tests/support/openai_server.py``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from support.openai_server import OpenAIContractServer

from switchyard.classifier.cascade import CascadeClassifier
from switchyard.classifier.llm import LLMClassifier
from switchyard.classifier.schema import Classification
from switchyard.core.settings import ConfigError, Settings, load_settings
from switchyard.llm.accounting import usage_record
from switchyard.llm.answers import is_unusable
from switchyard.llm.factory import NO_KEY_PLACEHOLDER, ModelFactory
from switchyard.llm.offline import OfflineChatModel

ASK = [HumanMessage("How do I rotate my webhook signing secret?")]


def online(server: OpenAIContractServer, **kwargs: Any) -> Settings:
    """Settings pointing every tier at ``server`` (kwargs deep-merge like any other source)."""
    return Settings(offline=False, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=server.base_url,
                    **kwargs)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- request rules per family --
def test_each_family_gets_parameters_the_server_accepts(openai_server: OpenAIContractServer):
    factory = ModelFactory(online(openai_server))
    expert = run(factory.chat_model("expert").ainvoke(ASK))
    standard = run(factory.chat_model("standard").ainvoke(ASK))
    assert is_unusable(expert) is None and is_unusable(standard) is None
    o1 = openai_server.bodies("o1")[0]
    assert o1["reasoning_effort"] == "medium" and "max_tokens" not in o1
    # Room for hidden reasoning on top of the 2,000 visible tokens (issue 13 item 4).
    assert o1["max_completion_tokens"] == 2000 + 16000
    assert o1.get("temperature", 1) == 1
    gpt = openai_server.bodies("gpt-4.1")[0]
    assert gpt["temperature"] == 0.2 and "reasoning_effort" not in gpt
    assert gpt["max_completion_tokens"] == 800
    assert {r["status"] for r in openai_server.requests} == {200}


def test_override_uses_the_overriding_models_rules_and_price(openai_server: OpenAIContractServer):
    factory = ModelFactory(online(openai_server))
    as_chat = run(factory.chat_model("expert", override="gpt-4.1").ainvoke(ASK))
    as_reasoning = run(factory.chat_model("standard", override="o3-mini").ainvoke(ASK))
    body = openai_server.bodies("gpt-4.1")[0]
    assert "reasoning_effort" not in body and body["temperature"] == 0.2
    assert body["max_completion_tokens"] == 2000  # the expert's visible budget, no reserve
    body = openai_server.bodies("o3-mini")[0]
    assert "temperature" not in body and body["reasoning_effort"] == "medium"
    assert openai_server.count() == 2  # each accepted at once: no 400, no retry

    price = factory.price("expert", "gpt-4.1")
    assert (price.input_per_m, price.output_per_m, price.source) == (2.0, 8.0, "catalog")
    # Priced as itself both through the factory's price and from the tier settings alone.
    for prices in (price, factory.settings.tier("expert")):
        rec = usage_record("expert.answer", "expert", prices, as_chat)
        u = as_chat.usage_metadata
        assert rec["cost_usd"] == pytest.approx(
            (u["input_tokens"] * 2.0 + u["output_tokens"] * 8.0) / 1e6)
        assert rec["price_source"] == "catalog"
    rec = usage_record("standard.answer", "standard", factory.settings.tier("standard"), as_reasoning)
    u = as_reasoning.usage_metadata
    assert rec["reasoning_tokens"] == 64
    assert rec["cost_usd"] == pytest.approx((u["input_tokens"] * 1.10 + u["output_tokens"] * 4.40) / 1e6)

    unknown = factory.price("expert", "house-model-7b")
    assert unknown.source == "tier" and unknown.input_per_m == 15.0


# -- retries --
def test_400_fails_fast_but_429_and_500_are_retried(openai_server: OpenAIContractServer):
    factory = ModelFactory(online(openai_server))
    openai_server.script("gpt-4.1", fail=["400"])
    with pytest.raises(openai.BadRequestError):
        run(factory.chat_model("standard").ainvoke(ASK))
    assert openai_server.count("gpt-4.1") == 1

    openai_server.script("gpt-4o-mini", fail=["429", "500"])
    answer = run(factory.chat_model("fast").ainvoke(ASK))
    assert answer.content and openai_server.count("gpt-4o-mini") == 3
    assert [r["status"] for r in openai_server.requests[1:]] == [429, 500, 200]


# -- accounting from the provider's usage --
def test_streamed_usage_is_recorded(openai_server: OpenAIContractServer):
    factory = ModelFactory(online(openai_server))

    async def stream() -> AIMessage:
        final = None
        async for chunk in factory.chat_model("standard").astream(ASK):
            final = chunk if final is None else final + chunk
        return final

    message = run(stream())
    body = openai_server.bodies("gpt-4.1")[0]
    assert body["stream"] and body["stream_options"] == {"include_usage": True}
    rec = usage_record("standard.answer", "standard", factory.price("standard"), message)
    assert rec["input_tokens"] > 0 and rec["output_tokens"] > 0 and not rec["usage_estimated"]


def test_cached_input_tokens_are_priced_as_cached(openai_server: OpenAIContractServer):
    factory = ModelFactory(online(openai_server))
    openai_server.script("gpt-4.1", cached_tokens=1024)
    message = run(factory.chat_model("standard").ainvoke([HumanMessage("policy text " * 600)]))
    rec = usage_record("standard.answer", "standard", factory.price("standard"), message)
    inp, out = rec["input_tokens"], rec["output_tokens"]
    assert rec["cached_input_tokens"] == 1024 < inp
    assert rec["cost_usd"] == pytest.approx(((inp - 1024) * 2.0 + 1024 * 0.5 + out * 8.0) / 1e6)


def test_no_usage_is_estimated_flagged_and_warned(openai_server: OpenAIContractServer, caplog):
    factory = ModelFactory(online(openai_server))
    openai_server.script("gpt-4o-mini", no_usage=True)
    model = factory.chat_model("fast")
    with caplog.at_level(logging.WARNING, logger="switchyard.llm.accounting"):
        plain = run(model.ainvoke(ASK))
        streamed = run(_collect(model))
        records = [usage_record("fast.answer", "fast", factory.price("fast"), m)
                   for m in (plain, streamed, plain)]
    for rec in records:
        assert rec["usage_estimated"] and rec["input_tokens"] > 0 and rec["output_tokens"] > 0
        assert rec["cost_usd"] > 0
    assert sum("reported no token usage" in r.message for r in caplog.records) <= 1


async def _collect(model: Any) -> AIMessage:
    final = None
    async for chunk in model.astream(ASK):
        final = chunk if final is None else final + chunk
    return final


@pytest.mark.parametrize("stream", [False, True])
def test_priced_as_the_model_asked_for_whatever_name_the_server_answers(
    openai_server: OpenAIContractServer, stream: bool
):
    factory = ModelFactory(online(openai_server))
    openai_server.script("gpt-4o-mini", response_model="gpt-3.5-turbo")  # llama.cpp's habit
    model = factory.chat_model("fast")
    message = run(_collect(model)) if stream else run(model.ainvoke(ASK))
    assert message.response_metadata["requested_model"] == "gpt-4o-mini"
    rec = usage_record("fast.answer", "fast", factory.settings.tier("fast"), message)
    u = message.usage_metadata
    assert rec["price_source"] == "catalog" and not rec["usage_estimated"]
    assert rec["cost_usd"] == pytest.approx((u["input_tokens"] * 0.15 + u["output_tokens"] * 0.60) / 1e6)


# -- event loops --
def test_ten_successive_asyncio_runs_on_one_factory(openai_server: OpenAIContractServer):
    factory = ModelFactory(online(openai_server))
    model = factory.chat_model("fast")
    gate = factory.gate("fast")

    async def one() -> str:
        async with gate.semaphore():
            return str((await model.ainvoke(ASK)).content)

    answers = [asyncio.run(one()) for _ in range(10)]
    assert all(answers) and openai_server.count("gpt-4o-mini") == 10
    assert factory.chat_model("fast") is model  # cached, yet usable from every new loop


# -- configuration --
README_ENV = {  # the environment example on docs/models.md
    "SWITCHYARD_TIERS__FAST__MODEL": "gpt-4o-mini",
    "SWITCHYARD_TIERS__STANDARD__MODEL": "gpt-4.1",
    "SWITCHYARD_TIERS__EXPERT__MODEL": "o1",
    "SWITCHYARD_TIERS__EXPERT__INPUT_PER_M": "15",
    "SWITCHYARD_TIERS__EXPERT__OUTPUT_PER_M": "60",
}


def test_readme_env_overrides_merge_into_the_defaults(monkeypatch):
    for key, value in README_ENV.items():
        monkeypatch.setenv(key, value)
    s = load_settings()
    assert [s.tiers[t].model for t in ("fast", "standard", "expert")] == ["gpt-4o-mini", "gpt-4.1", "o1"]
    assert (s.tiers["expert"].input_per_m, s.tiers["expert"].output_per_m) == (15.0, 60.0)
    assert (s.tiers["fast"].input_per_m, s.tiers["standard"].output_per_m) == (0.15, 8.0)
    assert s.tiers["expert"].reasoning_effort == "medium" and s.tiers["expert"].timeout_s == 120


def test_one_field_of_one_tier_from_the_environment(monkeypatch):
    monkeypatch.setenv("SWITCHYARD_TIERS__STANDARD__TIMEOUT_S", "5")
    s = load_settings()
    assert s.tiers["standard"].timeout_s == 5 and s.tiers["standard"].model == "gpt-4.1"
    assert set(s.tiers) == {"fast", "standard", "expert"} and s.tiers["expert"].model == "o1"


def test_a_new_model_alone_brings_its_catalogue_prices(monkeypatch):
    monkeypatch.setenv("SWITCHYARD_TIERS__EXPERT__MODEL", "o3")
    expert = load_settings().tiers["expert"]
    assert (expert.input_per_m, expert.cached_input_per_m, expert.output_per_m) == (2.0, 0.5, 8.0)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_partial_config_file_keeps_the_other_tiers(tmp_path: Path, monkeypatch, suffix: str):
    path = tmp_path / f"switchyard{suffix}"
    if suffix == ".toml":
        path.write_text('[tiers.fast]\nprovider = "local"\nmodel = "llama3.1-8b"\n'
                        'base_url = "http://127.0.0.1:8080/v1"\n')
    else:
        path.write_text('{"tiers": {"fast": {"provider": "local", "model": "llama3.1-8b", '
                        '"base_url": "http://127.0.0.1:8080/v1"}}}')
    monkeypatch.setenv("SWITCHYARD_CONFIG", str(path))
    monkeypatch.setenv("SWITCHYARD_TIERS__FAST__MAX_TOKENS", "300")  # env still wins over the file
    s = load_settings()
    fast = s.tiers["fast"]
    assert (fast.model, fast.provider, fast.input_per_m, fast.max_tokens) == ("llama3.1-8b", "local", 0.0, 300)
    assert fast.ttft_ms == 400  # the rest of the default fast tier is kept
    assert s.tiers["standard"].model == "gpt-4.1" and s.tiers["expert"].model == "o1"


@pytest.mark.parametrize(("env", "message"), [
    ({"SWITCHYARD_TIERS__STANDARD__TIMEOUT_S": "soon"}, "tiers.standard.timeout_s"),
    ({"SWITCHYARD_TIERS__FAST__TIMEOUT": "5"}, "tiers.fast.timeout"),
    ({"SWITCHYARD_TIERS__EXPERT__MODEL": "house-model"}, "not in switchyard's catalogue"),
    ({"SWITCHYARD_TIERS__EXPERT__PROVIDER": "nosuch"}, "unknown provider 'nosuch'"),
    ({"SWITCHYARD_CONFIG": "/nonexistent/switchyard.toml"}, "does not exist"),
])
def test_bad_configuration_is_a_clear_error(monkeypatch, env: dict[str, str], message: str):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_settings()


def test_bad_toml_is_a_clear_error(tmp_path: Path, monkeypatch):
    path = tmp_path / "bad.toml"
    path.write_text("[tiers.fast\nmodel = 1")
    monkeypatch.setenv("SWITCHYARD_CONFIG", str(path))
    with pytest.raises(ConfigError, match="is not valid toml"):
        load_settings()


@pytest.mark.parametrize("name, text", [
    ("deep.json", '{"a": ' * 100_000 + "1" + "}" * 100_000),
    ("deep.toml", "a = " + "[" * 100_000 + "]" * 100_000),
])
def test_a_config_nested_too_deeply_is_a_clear_error(tmp_path: Path, monkeypatch, name, text):
    # A hostile sweep: RecursionError from every command while SWITCHYARD_CONFIG named it.
    path = tmp_path / name
    path.write_text(text)
    monkeypatch.setenv("SWITCHYARD_CONFIG", str(path))
    with pytest.raises(ConfigError, match=f"is not valid {name.split('.')[1]}"):
        load_settings()


def test_offline_only_when_nothing_is_configured_anywhere(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert Settings(offline=False).use_offline_model
    assert isinstance(ModelFactory(Settings(offline=False)).chat_model("fast"), OfflineChatModel)
    local_fast = Settings(offline=False, tiers={"fast": {"base_url": "http://127.0.0.1:9/v1"}})
    assert not local_fast.use_offline_model
    assert Settings(offline=True, OPENAI_API_KEY="sk").use_offline_model
    with pytest.raises(ConfigError, match="tier 'expert' has no API key and no base_url"):
        ModelFactory(local_fast).chat_model("expert")


def test_two_tiers_with_their_own_servers_and_keys(
    openai_server: OpenAIContractServer, second_openai_server: OpenAIContractServer, monkeypatch
):
    monkeypatch.setenv("EXPERT_KEY", "sk-expert")
    s = Settings(offline=False, tiers={
        "fast": {"provider": "local", "model": "llama3.1-8b", "base_url": openai_server.base_url},
        "expert": {"base_url": second_openai_server.base_url, "api_key_env": "EXPERT_KEY"},
    })
    factory = ModelFactory(s)
    run(factory.chat_model("fast").ainvoke(ASK))
    run(factory.chat_model("expert").ainvoke(ASK))
    (fast,) = openai_server.requests
    (expert,) = second_openai_server.requests
    assert fast["model"] == "llama3.1-8b" and expert["model"] == "o1"
    # A local server needs no key (a placeholder satisfies the client) and gets max_tokens too.
    assert fast["authorization"] == f"Bearer {NO_KEY_PLACEHOLDER}"
    assert fast["body"]["max_tokens"] == fast["body"]["max_completion_tokens"] == 400
    assert expert["authorization"] == "Bearer sk-expert" and "max_tokens" not in expert["body"]
    assert factory.price("fast").input_per_m == 0.0


def test_missing_provider_package_is_a_clear_error(monkeypatch):
    import importlib.util

    if importlib.util.find_spec("langchain_anthropic") is not None:
        pytest.skip("langchain-anthropic is installed here")
    s = Settings(offline=False, tiers={"expert": {
        "provider": "anthropic", "model": "claude-sonnet-4", "input_per_m": 3, "output_per_m": 15}})
    with pytest.raises(ConfigError, match="provider 'anthropic'.*not installed"):
        ModelFactory(s).chat_model("expert")


# -- unusable answers and a larger budget --
def test_budget_exhausting_reasoning_is_detected_and_a_larger_budget_answers(
    openai_server: OpenAIContractServer,
):
    factory = ModelFactory(online(openai_server))
    openai_server.script("o1", reasoning_tokens=25_000)  # more than the 18,000 budget
    first = run(factory.chat_model("expert").ainvoke(ASK))
    assert is_unusable(first) == "length" and not first.content
    retry = run(factory.with_budget("expert", 2.0).ainvoke(ASK))
    assert is_unusable(retry) is None and retry.content
    assert [b["max_completion_tokens"] for b in openai_server.bodies("o1")] == [18_000, 36_000]
    rec = usage_record("expert.plan", "expert", factory.price("expert"), first)
    assert rec["reasoning_tokens"] == 18_000 and rec["cost_usd"] > 0  # billed though empty


def test_is_unusable_reasons():
    assert is_unusable(AIMessage("")) == "empty"
    assert is_unusable(AIMessage("fine")) is None
    assert is_unusable(AIMessage("cut", response_metadata={"finish_reason": "length"})) == "length"
    assert is_unusable(AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": "1"}])) is None


def test_empty_answer_is_detected(openai_server: OpenAIContractServer):
    openai_server.script("gpt-4.1", fail=["empty"])
    message = run(ModelFactory(online(openai_server)).chat_model("standard").ainvoke(ASK))
    assert is_unusable(message) == "empty"


# -- tools --
@tool
def lookup_invoice(invoice_id: str) -> str:
    """Look up one invoice by its id."""
    return f"invoice {invoice_id}: paid"


def test_tool_call_round_trip_is_accepted(openai_server: OpenAIContractServer):
    model = ModelFactory(online(openai_server)).chat_model("standard").bind_tools([lookup_invoice])
    ask = [HumanMessage("CALL_TOOL:lookup_invoice for invoice 1042")]
    call = run(model.ainvoke(ask))
    assert call.tool_calls and call.tool_calls[0]["name"] == "lookup_invoice"
    result = ToolMessage(lookup_invoice.invoke(call.tool_calls[0]["args"]),
                         tool_call_id=call.tool_calls[0]["id"])
    answer = run(model.ainvoke([*ask, call, result]))
    assert "paid" in str(answer.content)
    assert [r["status"] for r in openai_server.requests] == [200, 200]


# -- the LLM classifier --
VERDICT = {"complexity": "high", "reasoning": "a migration of 10K users", "intent": "migration_planning",
           "in_scope": True, "requires_auth": False, "tools_needed": ["estimate_migration"]}


def test_llm_classifier_reads_the_strict_json_schema_answer_and_books_usage(
    openai_server: OpenAIContractServer,
):
    factory = ModelFactory(online(openai_server))
    openai_server.script("gpt-4o-mini", json_answer=VERDICT, cached_tokens=0)
    c = run(LLMClassifier(factory=factory).aclassify("I want to migrate 10K users to Quillstack"))
    assert c.complexity == "high" and c.recommended_agent == "expert" and c.intent == "migration_planning"
    (req,) = openai_server.requests
    fmt = req["body"]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert req["body"]["temperature"] == 0
    u = c.usage
    assert u["input_tokens"] > u["output_tokens"] > 0  # a long prompt, a short verdict
    assert u["tier"] == "classifier" and u["model"] == "gpt-4o-mini"
    assert c.tokens == u["input_tokens"] + u["output_tokens"]
    assert c.cost_usd == pytest.approx((u["input_tokens"] * 0.15 + u["output_tokens"] * 0.60) / 1e6)
    model = factory.classifier_model()
    assert model.request_timeout == 8.0 and model.max_retries == 1


def test_llm_classifier_priced_at_its_own_model(openai_server: OpenAIContractServer):
    s = online(openai_server, classifier={"llm_model": "gpt-4.1-nano"})
    openai_server.script("gpt-4.1-nano", json_answer=VERDICT)
    c = run(LLMClassifier(factory=ModelFactory(s)).aclassify("migrate 10K users"))
    u = c.usage
    assert openai_server.count("gpt-4.1-nano") == 1
    assert c.cost_usd == pytest.approx((u["input_tokens"] * 0.10 + u["output_tokens"] * 0.40) / 1e6)


class _UnsureLocal:
    """A local classifier that is never confident, so the cascade always asks the LLM."""

    async def aclassify(self, text: str, *, embedding: Any = None, history: Any = None) -> Classification:
        return Classification(complexity="medium", recommended_agent="standard", confidence=0.3)


def test_cascade_falls_back_to_the_local_verdict_on_a_slow_llm(openai_server: OpenAIContractServer):
    s = online(openai_server, classifier={"llm_timeout_s": 0.3})
    openai_server.script("gpt-4o-mini", fail=["hang", "hang"], hang_s=3)
    cascade = CascadeClassifier(local=_UnsureLocal(), llm=LLMClassifier(factory=ModelFactory(s)),
                                threshold=0.55)
    assert cascade.llm_deadline_s == pytest.approx(0.3 * 2 + 1.0)
    c = run(cascade.aclassify("which plan do we need?"))
    assert c.classifier == "cascade:local" and c.recommended_agent == "standard"
    assert c.latency_ms < 2500  # two 0.3 s attempts, not the 3 s hang (nor 3 x 60 s)
    assert openai_server.count("gpt-4o-mini") == 2  # one retry at most


def test_the_docs_toml_example_loads_as_described(tmp_path: Path, monkeypatch):
    page = (Path(__file__).parents[2] / "docs" / "models.md").read_text()
    block = page.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "switchyard.toml"
    path.write_text(block)
    monkeypatch.setenv("SWITCHYARD_CONFIG", str(path))
    monkeypatch.setenv("OPENAI_EXPERT_KEY", "sk-expert")
    s = load_settings(offline=False)
    assert (s.tiers["fast"].provider, s.tiers["fast"].input_per_m) == ("local", 0.0)
    assert (s.tiers["expert"].model, s.tiers["expert"].input_per_m) == ("o3", 2.0)
    assert s.tiers["standard"].model == "gpt-4.1" and s.tier_api_key("expert") == "sk-expert"
    assert ModelFactory(s).rules("expert").max_completion_tokens == 2000 + 32000
