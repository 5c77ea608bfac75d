"""The fast tier's answers are grounded or not shown (issue 29).

Every fast-tier answer, whatever the provider, goes through the grounding check; one that fails
is replaced by the extractive answer from the same passages, marked ``answer_source:
"extractive"`` in the record, and never cached. A small local model (catalogue ``small``) gets a
short prompt, one attempt (no bigger-budget retry), and a fixed out-of-scope deflection.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from support.fakes import FakeModels, ScriptedChat
from support.front_door import ask, variant

from switchyard.agents.prompts import FAST_SYSTEM_SMALL, SMALL_DEFLECTION
from switchyard.app import Switchyard
from switchyard.cache.faiss_backend import FaissSemanticCache
from switchyard.core.settings import Settings

pytestmark = pytest.mark.integration

QUESTION = "Can I change my profile picture?"
OFF_TOPIC = ("Quillstack is a team of 1000 people. The most fun fact about our office is the "
             "coffee machine, which makes twelve kinds of espresso.")


def _variant(sy: Switchyard, tmp_path: Path, settings: Settings | None = None,
             **models: Any) -> Switchyard:
    settings = settings or sy.settings
    cache = FaissSemanticCache(tmp_path / f"cache-{time.monotonic_ns()}.sqlite", settings.cache,
                               hash_key=b"test-key")
    return variant(sy, settings, cache=cache, models=FakeModels(settings, **models))


def _small_settings(sy: Switchyard) -> Settings:
    """The fast tier on the bundled SmolLM2 as `local-model start` prints it (the scripted model
    stands in for the server); the other tiers offline."""
    settings = sy.settings.model_copy(deep=True)
    settings.offline = False
    settings.tiers["fast"] = settings.tiers["fast"].model_copy(update={
        "model": "smollm2-135m", "provider": "local", "base_url": "http://127.0.0.1:9/v1",
        "supports_tools": False})
    for tier in ("standard", "expert"):
        settings.tiers[tier] = settings.tiers[tier].model_copy(update={"provider": "offline"})
    assert not settings.use_offline_model
    return settings


async def test_an_off_topic_answer_is_replaced_by_the_extract_flagged_and_never_cached(
        sy, tmp_path) -> None:
    off_topic = ScriptedChat(reply=lambda messages, n: OFF_TOPIC, name_="gpt-4o-mini")
    app = _variant(sy, tmp_path, fast=off_topic)
    rec = await ask(app, QUESTION, user_id="u-0009", force_tier="fast")
    assert rec["agent"] == "fast" and rec["error"] is None and rec["fallback_from"] == []
    # What the user sees: the extract of the passages the model was given, cited; not the model.
    assert rec["answer_source"] == "extractive"
    assert "coffee" not in rec["answer"] and "Sources:" in rec["answer"] and "[1]" in rec["answer"]
    assert "profile" in rec["answer"].lower()
    assert rec["sources"] and rec["sources"][0]["title"] in rec["answer"]
    # Why, in the record: the verdict on the model's answer.
    assert rec["grounding"]["status"] == "ungrounded" and rec["grounding"]["reasons"]
    assert rec["model_calls"] == 1  # the model was paid for; the check itself calls nothing
    # Never cached: the next ask goes to the model again.
    assert rec["cache"]["stored"] is False and "ungrounded" in rec["cache"]["store_reason"]
    assert app.cache.stats()["entries"] == 0
    again = await ask(app, QUESTION, user_id="u-0009", force_tier="fast")
    assert again["cache_hit"] is False and again["answer_source"] == "extractive"
    assert len(off_topic.calls) == 2


async def test_a_grounded_answer_is_shown_as_the_model_wrote_it_and_cached(sy, tmp_path) -> None:
    app = _variant(sy, tmp_path)  # the offline model: an extract of its passages, so grounded
    rec = await ask(app, QUESTION, user_id="u-0009", force_tier="fast")
    assert rec["answer_source"] == "model" and rec["grounding"]["status"] == "grounded"
    assert "offline model" in rec["answer"]  # its own text, footer and all
    assert rec["cache"]["stored"] is True
    hit = await ask(app, QUESTION, user_id="u-0009", force_tier="fast")
    assert hit["cache_hit"] is True and hit["answer_source"] == "cache"
    assert hit["grounding"] is None and hit["answer"] == rec["answer"]


async def test_other_tiers_answers_are_the_models(sy, tmp_path) -> None:
    rec = await ask(_variant(sy, tmp_path), "Help me debug this system error: webhook "
                    "deliveries fail with 401", user_id="u-0009", force_tier="standard")
    assert rec["agent"] == "standard" and rec["answer_source"] == "model"
    assert rec["grounding"] is None


# -- a small local model --------------------------------------------------------------------------

def _copy_first_help_line(messages: list[BaseMessage], n: int) -> AIMessage:
    """A small model that copies its help text, then runs out of budget mid-sentence."""
    turn = str(messages[-1].content)
    first = turn.split("Help text:\n", 1)[1].splitlines()[0]
    return AIMessage(content=f"{first} Then you can also", response_metadata={
        "finish_reason": "length"})


async def test_a_small_model_gets_the_short_prompt_and_one_attempt_kept_to_its_last_sentence(
        sy, tmp_path) -> None:
    small = ScriptedChat(reply=_copy_first_help_line, name_="smollm2-135m")
    app = _variant(sy, tmp_path, _small_settings(sy), fast=small)
    rec = await ask(app, QUESTION, user_id="u-0009", force_tier="fast")
    # One call, at the tier's budget, never retried with a bigger one.
    assert len(small.calls) == 1 and rec["model_calls"] == 1
    usage = rec["usage"][0]
    assert usage["truncated"] is True and "retried_after" not in usage
    # The short prompt: a 42-token instruction, then one user turn with the passage text (no
    # [n] markers) and the question.
    system, user = small.calls[0]
    assert isinstance(system, SystemMessage) and system.content == FAST_SYSTEM_SMALL
    assert isinstance(user, HumanMessage) and user.content.endswith(f"Question: {QUESTION}")
    assert "[1]" not in user.content and len(user.content) < 1200
    # Its answer passed the check, kept to its last whole sentence; truncated: never cached.
    assert rec["answer_source"] == "model", rec["grounding"]
    assert not rec["answer"].endswith("Then you can also") and rec["answer"].endswith(".")
    assert rec["cache"]["stored"] is False


async def test_a_small_models_empty_answer_is_replaced_not_failed_over(sy, tmp_path) -> None:
    empty = ScriptedChat(reply=lambda messages, n: "", name_="smollm2-135m")
    app = _variant(sy, tmp_path, _small_settings(sy), fast=empty)
    rec = await ask(app, QUESTION, user_id="u-0009", force_tier="fast")
    assert rec["agent"] == "fast" and rec["fallback_from"] == [] and len(empty.calls) == 1
    assert rec["answer_source"] == "extractive" and "Sources:" in rec["answer"]
    assert rec["usage"][0]["unusable"] == "empty"


async def test_a_small_model_is_not_asked_out_of_scope_questions(sy, tmp_path) -> None:
    small = ScriptedChat(reply=lambda messages, n: OFF_TOPIC, name_="smollm2-135m")
    app = _variant(sy, tmp_path, _small_settings(sy), fast=small)
    rec = await ask(app, "Tell me a fun fact about penguins", user_id="u-0009", force_tier="fast")
    assert rec["in_scope"] is False
    assert rec["answer"] == SMALL_DEFLECTION and rec["answer_source"] == "fixed"
    assert small.calls == [] and rec["model_calls"] == 0
