"""The demo's answer excerpt and sources: whole units, balanced markup, cited sources only."""

from __future__ import annotations

from switchyard.cli.answer_view import excerpt, sources_for, split_answer
from switchyard.llm.markdown_units import markdown_problems

OFFLINE_ANSWER = (
    "**recent_api_errors**: Acme had 46 API error(s) with WH-401 in the last 7 day(s).\n"
    "- period: 2026-11-13 to 2026-11-20\n- total_errors: 46\n\n"
    "- **401 from your server:** `WH-401`, a signature problem; see *Webhooks: setup*. [3]\n\n"
    "Sources:\n[2] Webhooks: setup (https://h.example/a/webhooks)\n"
    "[3] Webhook failures (https://h.example/a/failures)\n"
    "[4] Webhooks: setup (https://h.example/a/webhooks)\n\n"
    "**How I approached it:**\n2. Retrieve help-center guidance on: webhooks.\n\n"
    "_(switchyard offline model standing in for gpt-4.1 on the standard tier: an extractive "
    "answer assembled from the sources above.)_"
)


def test_split_answer_keeps_only_the_cited_source_lines() -> None:
    body, cited = split_answer(OFFLINE_ANSWER)
    assert body.startswith("**recent_api_errors**") and "Sources:" not in body
    assert cited == [
        "[2] Webhooks: setup (https://h.example/a/webhooks)",
        "[3] Webhook failures (https://h.example/a/failures)",
        "[4] Webhooks: setup (https://h.example/a/webhooks)",
    ]


def test_sources_merge_passages_of_one_article_and_fall_back_to_retrieved() -> None:
    _, cited = split_answer(OFFLINE_ANSWER)
    assert sources_for({}, cited) == [
        "[2][4] Webhooks: setup (https://h.example/a/webhooks)",
        "[3] Webhook failures (https://h.example/a/failures)",
    ]
    record = {"sources": [{"title": "A", "url": "u1"}, {"title": "A", "url": "u1"}, {"title": "B", "url": "u2"}]}
    assert sources_for(record, []) == ["A (u1)", "B (u2)"]


def test_excerpt_cuts_between_units_and_keeps_markup_balanced() -> None:
    body, _ = split_answer(OFFLINE_ANSWER)
    short = excerpt(body, max_chars=120)
    assert short.endswith(" …")
    assert markdown_problems(short.removesuffix(" …")) == []
    assert "- period: 2026-11-13 to 2026-11-20" in short  # list items stay list items
    assert "`WH-401`" not in short  # over budget: left out whole, not cut in half
    full = excerpt(body, max_chars=10_000)
    assert not full.endswith("…") and "- **401 from your server:** `WH-401`" in full
    assert markdown_problems(full) == []


def test_excerpt_of_a_long_first_sentence_is_still_whole() -> None:
    sentence = "A very long sentence about **webhooks** " + "and retries " * 60 + "ends here."
    assert excerpt(sentence + " Second sentence is short.", max_chars=50, min_units=1) == sentence + " …"
