"""The support corpus and the eval set: front-matter, size, and facts that must match the pack's product.json.

No model is loaded here: these checks are pure text.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import yaml

from switchyard.knowledge.ingest import load_articles, parse_article
from switchyard.knowledge.retriever import load_eval

ROOT = Path(__file__).resolve().parents[2]
ARTICLES = ROOT / "switchyard" / "domains" / "quillstack" / "articles"
PRODUCT = json.loads((ROOT / "switchyard" / "domains" / "quillstack" / "product.json").read_text())


def _text(slug: str) -> str:
    return (ARTICLES / f"{slug}.md").read_text()


def _money(value: float) -> str:
    return f"${value:,.2f}".removesuffix(".00")


def test_at_least_40_articles() -> None:
    assert len(list(ARTICLES.glob("*.md"))) >= 42


@pytest.mark.parametrize("path", sorted(ARTICLES.glob("*.md")), ids=lambda p: p.stem)
def test_front_matter_and_length(path: Path) -> None:
    raw = path.read_text()
    front = yaml.safe_load(raw.split("---\n")[1])
    assert set(front) >= {"id", "title", "category", "updated"}
    assert front["id"] == path.stem
    assert isinstance(front["updated"], dt.date)
    assert front["updated"] <= dt.date.today()
    article = parse_article(path)
    words = len(article.body.split())
    assert 250 <= words <= 700, f"{path.name}: {words} words"


def test_all_articles_parse_with_unique_titles() -> None:
    articles = load_articles(ARTICLES)
    assert len({a.title for a in articles}) == len(articles)
    assert len({a.category for a in articles}) >= 10


def test_plan_prices_and_limits_match_product() -> None:
    overview = _text("plans-and-pricing")
    for key, plan in PRODUCT["plans"].items():
        price = _money(plan["price_per_user_month"])
        assert price in overview
        own = _text(f"plan-{key}")
        assert f"{price} per user per month" in own
        assert f"{plan['workflow_runs_included']:,}" in own
        assert f"{plan['api_rate_limit_per_min']:,}" in own
        # Annual price: 12 months with the annual discount.
        yearly = plan["price_per_user_month"] * 12 * (100 - PRODUCT["annual_discount_pct"]) / 100
        assert _money(yearly) in own
        assert _money(yearly) in _text("annual-billing-discount")
        if plan["sla"]:
            assert plan["sla"] in overview and plan["sla"] in own
        assert (
            f"{plan['audit_log_days']} days" in _text("audit-logs") or plan["audit_log_days"] == 0
        )


def test_overview_table_rows_match_product() -> None:
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in _text("plans-and-pricing").splitlines()
        if line.startswith("| ")
    }
    plans = list(PRODUCT["plans"].values())
    assert rows["Price per user per month"] == [_money(p["price_per_user_month"]) for p in plans]
    assert rows["Workflow runs included per month"] == [
        f"{p['workflow_runs_included']:,}" for p in plans
    ]
    assert rows["API rate limit (requests per minute)"] == [
        f"{p['api_rate_limit_per_min']:,}" for p in plans
    ]


def test_billing_security_and_migration_facts() -> None:
    billing, security, migration = PRODUCT["billing"], PRODUCT["security"], PRODUCT["migration"]
    assert "issued on the 1st" in _text("billing-cycle-and-invoices")
    assert f"**{billing['payment_terms_days']} days**" in _text("billing-cycle-and-invoices")
    assert f"**{billing['refund_window_days_annual']} days**" in _text("refund-policy")
    assert _money(PRODUCT["overage_per_1000_runs"]) in _text("workflow-run-overage")
    reset = _text("resetting-your-password")
    assert f"**{security['password_reset_link_minutes']} minutes**" in reset
    assert f"**{security['password_reset_max_per_hour']} password reset emails per hour**" in reset
    lockout = _text("login-troubleshooting-and-lockout")
    assert f"**{security['lockout_failed_logins']} failed sign-in attempts**" in lockout
    assert f"**{security['lockout_minutes']} minutes**" in lockout
    assert f"**{security['session_timeout_hours']} hours**" in lockout
    guided = _text("migration-guided-package")
    assert _money(migration["guided_package_flat"]) in guided
    assert f"{migration['guided_package_included_users']:,} users" in guided
    assert _money(migration["per_user_above_included"]) in guided
    assert _money(migration["per_integration_setup"]) in guided
    limits = _text("data-import-limits")
    assert f"{migration['free_import_gb']} GB" in limits
    assert _money(migration["per_gb_above_free"]) in limits
    assert f"{migration['import_throughput_gb_per_day']} GB per day" in limits
    provisioning = _text("migration-user-provisioning")
    assert f"{migration['users_provisioned_per_day_scim']:,} users per day" in provisioning
    assert f"{migration['users_provisioned_per_day_csv']:,} users per day" in provisioning
    addons = _text("add-ons")
    for addon in PRODUCT["addons"].values():
        price = addon.get("price_per_user_month", addon.get("price_per_month"))
        assert _money(price) in addons


def test_every_error_code_is_documented() -> None:
    reference = _text("api-error-codes-reference")
    corpus = "\n".join(p.read_text() for p in ARTICLES.glob("*.md"))
    for code, info in PRODUCT["error_codes"].items():
        assert re.search(rf"\b{re.escape(code)}\b.*\b{info['http']}\b", reference), code
        # Each code also has a troubleshooting article beyond the reference table.
        assert corpus.count(code) > reference.count(code), code


def test_eval_set_is_large_and_labels_exist() -> None:
    rows = load_eval(ROOT / "switchyard" / "domains" / "quillstack" / "eval" / "retrieval.jsonl")
    assert len(rows) >= 160
    slugs = {p.stem for p in ARTICLES.glob("*.md")}
    assert {r["article"] for r in rows} <= slugs
    assert len({r["question"] for r in rows}) == len(rows)
    titles = {a.title.lower() for a in load_articles(ARTICLES)}
    # Questions are phrased by customers, not copied from article titles.
    assert not [r for r in rows if r["question"].lower().rstrip("?") in titles]


HTML_PAGE = """<!doctype html><html><head><title>Repotting a fern</title>
<style>body { color: red }</style><script>trackVisit("repotting")</script></head>
<body><nav>Home | Shop | Care guides</nav>
<h1>Repotting</h1><p>Repot a fern in <b>early spring</b>, one pot size up.</p>
<ul><li>Water the day before.</li><li>Keep the crown at soil level.</li></ul>
<footer>Copyright Fernhill</footer></body></html>"""


def test_an_html_article_is_read_through_beautifulsoup(tmp_path: Path) -> None:
    """A pack's help centre may be exported HTML (the `html` extra): the page's <title> is the
    title, and its text is the body without scripts, styles, navigation or footer."""
    (tmp_path / "repotting-a-fern.html").write_text(HTML_PAGE, encoding="utf-8")
    (tmp_path / "watering.md").write_text("# Watering\n\nWater when the top inch is dry.\n")
    articles = {a.id: a for a in load_articles(tmp_path)}
    page = articles["repotting-a-fern"]
    assert page.title == "Repotting a fern"
    assert "Repot a fern in\nearly spring\n, one pot size up." in page.body
    assert "Keep the crown at soil level." in page.body
    for junk in ("trackVisit", "color: red", "Home | Shop", "Copyright"):
        assert junk not in page.body
    assert articles["watering"].title == "Watering"


def test_an_html_article_without_beautifulsoup_says_how_to_get_it(tmp_path: Path, monkeypatch) -> None:
    import sys

    from switchyard.knowledge.ingest import ArticleError

    monkeypatch.setitem(sys.modules, "bs4", None)  # as if the html extra were not installed
    page = tmp_path / "page.html"
    page.write_text(HTML_PAGE, encoding="utf-8")
    with pytest.raises(ArticleError, match=r"page\.html: HTML articles need BeautifulSoup.*switchyard\[html\]"):
        parse_article(page)
