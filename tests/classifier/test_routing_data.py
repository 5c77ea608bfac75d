"""The labelled routing data: schema, coverage, and a test split that never leaks into training."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from switchyard.core.domain import INTENTS, OUT_OF_SCOPE

DATA = Path(__file__).resolve().parents[2] / "switchyard" / "domains" / "quillstack" / "routing"
SPLITS = ("train", "dev", "test")
TOOLS = {t for meta in INTENTS.values() for t in meta.tools}


def _rows(split: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / f"{split}.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def rows() -> dict[str, list[dict]]:
    return {s: _rows(s) for s in SPLITS}


def test_schema(rows: dict[str, list[dict]]) -> None:
    for split, rs in rows.items():
        for r in rs:
            assert isinstance(r["text"], str) and r["text"].strip(), (split, r)
            assert r["complexity"] in ("low", "medium", "high"), r
            assert r["intent"] in INTENTS, r
            assert isinstance(r["requires_auth"], bool)
            assert set(r["tools_needed"]) <= TOOLS, r
            assert r["in_scope"] == (r["intent"] != OUT_OF_SCOPE)
            if r["intent"] != OUT_OF_SCOPE:
                assert r["complexity"] == INTENTS[r["intent"]].complexity, r
            if "history" in r:
                assert 1 <= len(r["history"]) <= 3 and all(isinstance(h, str) for h in r["history"])


def test_coverage(rows: dict[str, list[dict]]) -> None:
    allrows = [r for rs in rows.values() for r in rs]
    assert len(allrows) >= 1300
    intents = Counter(r["intent"] for r in allrows)
    assert len(intents) >= 30
    assert all(n >= 10 for n in intents.values()), intents
    assert sum(1 for r in allrows if r.get("follow_up")) >= 80
    oos = [r for r in allrows if not r["in_scope"]]
    assert len(oos) >= 80
    assert {r["complexity"] for r in oos} == {"low", "medium", "high"}
    # Splits are stratified: every intent appears in each split, in roughly 70/15/15 shares.
    for split in SPLITS:
        assert {r["intent"] for r in rows[split]} == set(intents), split
    assert 0.65 <= len(rows["train"]) / len(allrows) <= 0.75


def test_article_examples_kept(rows: dict[str, list[dict]]) -> None:
    by_text = {r["text"]: r for rs in rows.values() for r in rs}
    assert by_text["I forgot my password"]["complexity"] == "low"
    assert by_text["I want to migrate 10K users from our old system to yours. What's the best approach?"][
        "complexity"] == "high"
    assert by_text["What's my account balance?"]["complexity"] == "low"
    assert by_text["Analyze my performance and give strategic recommendations"]["complexity"] == "high"
    assert any(t.startswith("Help me debug this system error:") and r["complexity"] == "medium"
               for t, r in by_text.items())


def test_splits_disjoint(rows: dict[str, list[dict]]) -> None:
    def key(r: dict) -> tuple[str, str]:
        return r["text"].strip().lower(), " || ".join(r.get("history", [])).lower()

    keys = {s: {key(r) for r in rs} for s, rs in rows.items()}
    assert not keys["train"] & keys["test"]
    assert not keys["dev"] & keys["test"]
    assert not keys["train"] & keys["dev"]
    # Standalone texts never repeat across splits either (follow-ups like "yes" may, with other history).
    standalone = {s: {r["text"].strip().lower() for r in rs if not r.get("follow_up")} for s, rs in rows.items()}
    assert not standalone["test"] & (standalone["train"] | standalone["dev"])


def test_counting_enough_rows_stops_reading(tmp_path: Path) -> None:
    """A process start only asks whether there are enough labelled rows: it stops reading once
    it has found them, and a full read still reports a bad line with its number."""
    from switchyard.classifier.data import load_labeled
    from switchyard.classifier.local import MIN_LABELLED_TO_FIT, count_labelled

    good = [json.dumps({"text": f"question {i}", "complexity": "low"}) for i in range(10)]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join([*good[:MIN_LABELLED_TO_FIT], "{not json", *good]) + "\n")
    assert count_labelled([path], stop_at=MIN_LABELLED_TO_FIT) == MIN_LABELLED_TO_FIT
    with pytest.raises(ValueError, match=rf"train.jsonl:{MIN_LABELLED_TO_FIT + 1}:"):
        load_labeled(path)
    with pytest.raises(ValueError, match="need a JSON object"):
        count_labelled([path])
    path.write_text("\n".join(good[:3]) + "\n\n")
    assert count_labelled([path, path], stop_at=MIN_LABELLED_TO_FIT) == MIN_LABELLED_TO_FIT
    assert count_labelled([path]) == 3
