"""Extractive answers quote whole markdown units, so every article's extracts are well-formed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from switchyard.agents.prompts import render_passages
from switchyard.core.settings import Settings
from switchyard.knowledge.ingest import Article, chunk_article, load_articles
from switchyard.llm.markdown_units import markdown_problems, markdown_units, split_sentences
from switchyard.llm.offline import OfflineChatModel

SETTINGS = Settings()
ARTICLES = load_articles(Path(SETTINGS.articles_dir))


def _passages(article: Article) -> list[dict[str, str]]:
    chunks = chunk_article(article, SETTINGS.retrieval.chunk_size, SETTINGS.retrieval.chunk_overlap)
    return [{"title": c.title, "url": article.url, "text": c.text} for c in chunks]


def _questions(article: Article) -> list[str]:
    """The title, each section heading, and the opening words of every unit: together they make
    the model quote every part of the article at least once."""
    headings = re.findall(r"^#{2,3}\s+(.+)$", article.body, re.M)
    openings = [" ".join(u.text.split()[:8]) for p in _passages(article) for u in markdown_units(p["text"])]
    return [article.title, *(f"{h}?" for h in headings), *openings]


def test_the_issue_examples_are_caught() -> None:
    bad = ("click **Redeliver**. [2] 401 from your server:** `WH-401`, a signature problem.")
    problems = markdown_problems(bad)
    assert any("**" in p for p in problems)
    assert any("list marker" in p for p in markdown_problems("Copy the secret. [2] 4. **Redeliver** it."))
    assert markdown_problems("Use `QS-429 and retry.")
    assert markdown_problems("See [the docs](https://example.com for more.")
    assert markdown_problems("Go to **Settings > Webhooks** and click **Create**. [1]") == []


def test_sentences_are_never_cut_inside_code_links_or_emphasis() -> None:
    text = ("Set **Retry. Then wait** as shown. Call `client.retry(). Done` now. "
            "See [v2. Notes](https://x.example/a.b) first. E.g. this stays whole.")
    assert split_sentences(text) == [
        "Set **Retry. Then wait** as shown.",
        "Call `client.retry(). Done` now.",
        "See [v2. Notes](https://x.example/a.b) first.",
        "E.g. this stays whole.",
    ]


def test_list_items_and_table_rows_are_whole_units_without_their_markers() -> None:
    text = ("Steps:\n\n1. Open **Settings > Webhooks** and pick\n   the endpoint you use.\n"
            "2. Click **Redeliver** on each failed delivery.\n\n"
            "| | Starter | Team |\n| --- | --- | --- |\n| Price per user | $15 | $35 |\n")
    units = markdown_units(text, min_chars=1)
    assert [(u.kind, u.text) for u in units] == [
        ("sentence", "Steps:"),
        ("item", "Open **Settings > Webhooks** and pick the endpoint you use."),
        ("item", "Click **Redeliver** on each failed delivery."),
        ("row", "Price per user — Starter: $15; Team: $35"),
    ]


@pytest.mark.parametrize("article", ARTICLES, ids=lambda a: a.id)
def test_every_unit_of_every_article_is_well_formed(article: Article) -> None:
    for passage in _passages(article):
        for unit in markdown_units(passage["text"]):
            assert markdown_problems(unit.text) == [], (article.id, unit)


@pytest.mark.parametrize("article", ARTICLES, ids=lambda a: a.id)
def test_every_article_answers_with_well_formed_markdown(article: Article) -> None:
    model = OfflineChatModel(tier="fast", stands_in_for="gpt-4o-mini")
    context = render_passages(_passages(article))
    quoted = 0
    for question in _questions(article):
        answer = model._answer(question, context, [])
        assert markdown_problems(answer) == [], (article.id, question, answer)
        quoted += "Sources:" in answer
    assert quoted >= len(_questions(article)) - 5  # headings alone may share no word with a unit
