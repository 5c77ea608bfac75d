"""The local classifier: routing targets on the held-out test split, follow-ups, scope, safety."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest

from switchyard.classifier.data import load_labeled
from switchyard.classifier.local import (
    LocalClassifier,
    LocalModel,
    cost_matrix,
    decide,
    load_or_fit,
)
from switchyard.classifier.metrics import routing_report

MIGRATION = "I want to migrate 10K users from our old system to yours. What's the best approach?"


@pytest.fixture(scope="session")
def clf(sy) -> LocalClassifier:
    # Fitted once per test session into the temporary SWITCHYARD_HOME (train+dev only).
    s = sy.settings
    return LocalClassifier(s, sy.encoder, load_or_fit(s.classifier_path, sy.encoder,
                                                      s.routing_data_dir))


def test_targets_on_test_split(clf: LocalClassifier) -> None:
    rows = load_labeled(clf.settings.routing_data_dir / "test.jsonl")
    preds = clf.classify_many([r.text for r in rows], [r.history or None for r in rows])
    rep = routing_report(rows, preds)
    assert rep["tier_accuracy"] >= 0.92, rep
    assert rep["high_recall"] >= 0.95, rep
    assert rep["high_to_fast_rate"] <= 0.01, rep


@pytest.mark.parametrize(
    ("text", "agent"),
    [
        ("I forgot my password", "fast"),
        ("What's my account balance?", "fast"),
        ("Help me debug this system error: webhook deliveries fail with WH-401 signature mismatch", "standard"),
        (MIGRATION, "expert"),
        ("Analyze my performance and give strategic recommendations", "expert"),
    ],
)
def test_article_examples(clf: LocalClassifier, text: str, agent: str) -> None:
    c = clf.classify(text)
    assert c.recommended_agent == agent, c
    assert c.in_scope and c.classifier == "local" and c.cost_usd == 0.0
    assert abs(sum(c.scores.values()) - 1.0) < 1e-3 and 0.0 <= c.confidence <= 1.0


def test_password_reset_needs_auth_and_tools(clf: LocalClassifier) -> None:
    c = clf.classify("I forgot my password")
    assert c.intent == "password_reset" and c.requires_auth
    assert c.tools_needed == ["verify_identity", "reset_password"]


def test_followup_inherits_high_complexity(clf: LocalClassifier) -> None:
    alone = clf.classify("yes, please do that")
    assert alone.recommended_agent != "expert"  # the message alone looks trivial
    c = clf.classify("yes, please do that", history=[MIGRATION])
    assert c.follow_up and c.complexity == "high" and c.recommended_agent == "expert", c
    assert c.intent == "migration_planning"


def test_followup_inherits_low_complexity(clf: LocalClassifier) -> None:
    c = clf.classify("and for last month?", history=["What's my last invoice number?"])
    assert c.follow_up and c.complexity == "low" and c.recommended_agent == "fast", c
    assert c.intent == "invoice_lookup" and c.requires_auth


def test_followup_after_several_turns(clf: LocalClassifier) -> None:
    history = ["What's my account balance?", MIGRATION, "the guided package sounds good"]
    c = clf.classify("ok go ahead", history=history)
    assert c.recommended_agent == "expert" and c.intent == "migration_planning", c


def test_new_topic_is_judged_on_its_own(clf: LocalClassifier) -> None:
    c = clf.classify("Different question: what's my account balance right now?", history=[MIGRATION])
    assert not c.follow_up and c.recommended_agent == "fast", c


@pytest.mark.parametrize(
    "text",
    ["write me a poem about autumn", "What's the weather like in Berlin tomorrow?", "tell me a joke about cats"],
)
def test_out_of_scope_is_deflected_cheaply(clf: LocalClassifier, text: str) -> None:
    c = clf.classify(text)
    assert not c.in_scope and c.intent == "out_of_scope" and c.recommended_agent == "fast", c
    assert c.tools_needed == [] and not c.requires_auth


def test_hard_off_product_request_is_high_but_never_expert(clf: LocalClassifier) -> None:
    c = clf.classify("Write a 5-year market-entry strategy for my bakery chain in Southeast Asia")
    assert not c.in_scope and c.complexity == "high", c
    assert c.recommended_agent == "fast"


def test_decision_weighs_under_routing_more(settings) -> None:
    costs = cost_matrix(price_weight=0.0, settings=settings)
    p = np.array([0.6, 0.1, 0.3])  # most likely low, but a real chance it is high
    assert decide(p, costs) == 2
    assert decide(np.array([0.97, 0.02, 0.01]), costs) == 0


def test_decision_is_price_aware(settings) -> None:
    """Probably medium, possibly high: the error costs alone pick the expert, but while the expert
    costs ~18x more per request the standard tier wins; priced like the standard tier, the expert
    wins again."""
    s = settings
    p = np.array([0.05, 0.7, 0.25])
    assert decide(p, cost_matrix(price_weight=0.0, settings=s)) == 2  # error costs alone: the expert
    assert decide(p, cost_matrix(settings=s)) == 1  # o1's price tips it to the standard tier
    cheap = s.model_copy(deep=True)
    cheap.tiers["expert"] = cheap.tiers["expert"].model_copy(
        update={"input_per_m": cheap.tiers["standard"].input_per_m,
                "output_per_m": cheap.tiers["standard"].output_per_m, "reasoning_effort": None})
    assert decide(p, cost_matrix(settings=cheap)) == 2
    # The price term is the same in every row: it never makes a certain request change tier.
    assert decide(np.array([0.0, 0.0, 1.0]),
                  cost_matrix(price_weight=s.classifier.price_weight, settings=s)) == 2


def test_shared_embedding_and_async(clf: LocalClassifier) -> None:
    emb = clf.embedder.embed_one("How do I update my credit card?")
    sync = clf.classify("How do I update my credit card?", embedding=emb)
    asyn = asyncio.run(clf.aclassify("How do I update my credit card?", embedding=emb))
    assert sync.recommended_agent == asyn.recommended_agent == "fast"
    assert sync.scores == asyn.scores


def test_tampered_model_is_refused(tmp_path: Path, clf: LocalClassifier) -> None:
    src = clf.settings.classifier_path
    clf.model  # noqa: B018 - fitted and saved in the session's home
    dst = tmp_path / "classifier"
    shutil.copytree(src, dst)
    _, manifest = LocalModel.load(dst)  # intact copy loads
    arrays, lexicon = manifest["files"]["model"], manifest["files"]["lexicon"]
    with (dst / arrays).open("ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ValueError, match="sha256"):
        LocalModel.load(dst)
    shutil.copy(src / arrays, dst / arrays)
    (dst / lexicon).write_text('["password", "migrate"]')
    with pytest.raises(ValueError, match="sha256"):
        LocalModel.load(dst)


def test_async_followup_with_history(clf: LocalClassifier) -> None:
    c = asyncio.run(clf.aclassify("ok go ahead", history=["What's my account balance?", MIGRATION]))
    assert c.follow_up and c.recommended_agent == "expert", c


def test_heads_fitted_on_other_vectors_are_refitted(sy, tmp_path: Path, monkeypatch) -> None:
    """The manifest records the encoder's vectors; another encoder's (or none recorded, as
    before the ONNX encoder) means a refit, never heads applied to vectors they were not fitted
    on."""
    import json

    from switchyard.classifier import local

    directory = tmp_path / "classifier"
    shutil.copytree(sy.settings.classifier_path, directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["encoder"] == sy.encoder.vectors_id
    refits: list[str] = []
    monkeypatch.setattr(local, "train_from_files",
                        lambda files, d, embedder, source="bundled": refits.append(source) or "refit")

    def load(**changes: object) -> object:
        edited = {k: v for k, v in {**manifest, **changes}.items() if v is not None}
        (directory / "manifest.json").write_text(json.dumps(edited))
        return load_or_fit(directory, sy.encoder, sy.settings.routing_data_dir)

    assert isinstance(load(), LocalModel) and refits == []
    assert load(encoder="all-MiniLM-L6-v2/int8/000000000000") == "refit"
    assert load(encoder=None) == "refit"
    assert refits == ["bundled", "bundled"]
