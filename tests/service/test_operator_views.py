"""The operator's views on the real app (httpx against the ASGI app, lifespan running): GET /metrics
and the savings page behind an operator's token, the token-less metrics listener, and one JSON
log line per request without personal data, which ``switchyard plan --log`` reads back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from support.front_door import variant
from support.replicas import free_port

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module"),
              pytest.mark.timeout(1200)]

AUTH_SECRET = "operator-views-signing-secret-" + "y" * 32
SHARED_Q = "How do I enable multi-factor authentication?"
PERSONAL_Q = "What's my account balance?"


def _settings(sy: Any, tmp: Path, **observability: Any) -> Any:
    obs = sy.settings.observability.model_copy(update={
        "request_log": str(tmp / "requests.jsonl"), **observability})
    return sy.settings.model_copy(update={
        "auth": "jwt", "auth_secret": SecretStr(AUTH_SECRET),
        "secret": SecretStr("operator-views-deployment-secret"), "observability": obs})


def _token(settings: Any, user: str = "u-0001", **claims: Any) -> dict[str, str]:
    from switchyard.service.auth import issue_token

    return {"authorization": f"Bearer {issue_token(settings, user, **claims)}"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(sy, tmp_path_factory) -> AsyncIterator[tuple[Any, httpx.AsyncClient, Path, int]]:
    from switchyard.service.app import ServiceConfig, create_app

    tmp = tmp_path_factory.mktemp("operator-views")
    port = free_port()
    settings = _settings(sy, tmp, metrics_port=port)
    one = variant(sy, settings)
    app = create_app(ServiceConfig(switchyard=one, checkpoint_path=tmp / "threads.sqlite"))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://switchyard.test",
            timeout=60) as client:
        yield settings, client, tmp, port


async def _ask(served: Any, message: str, user: str) -> dict[str, Any]:
    settings, client, _, _ = served
    resp = await client.post("/v1/chat", json={"message": message},
                             headers=_token(settings, user))
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_metrics_need_an_operator(served) -> None:
    settings, client, _, _ = served
    await _ask(served, SHARED_Q, "u-0001")
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers=_token(settings))).status_code == 403
    forged = _token(settings.model_copy(update={"auth_secret": SecretStr("z" * 40)}),
                    roles=["operator"])
    assert (await client.get("/metrics", headers=forged)).status_code == 401
    ok = await client.get("/metrics", headers=_token(settings, "ops", roles=["operator"]))
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/plain")
    assert "switchyard_requests_total" in ok.text and "switchyard_threads" in ok.text


async def test_the_metrics_listener_needs_no_token(served) -> None:
    _, _, _, port = served
    async with httpx.AsyncClient(timeout=30) as plain:
        resp = await plain.get(f"http://127.0.0.1:{port}/metrics")
        assert resp.status_code == 200 and "switchyard_requests_total" in resp.text
        assert (await plain.get(f"http://127.0.0.1:{port}/savings.json")).status_code == 404


async def test_savings_page_shell_is_public_its_figures_are_not(served) -> None:
    settings, client, _, _ = served
    page = await client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "<script src=\"assets/savings.js\"" in page.text and "http" not in page.text.split(
        "<body")[1]  # nothing loaded from elsewhere
    for asset in ("savings.js", "savings.css", "uplot/uPlot.iife.min.js", "uplot/LICENSE"):
        assert (await client.get(f"/assets/{asset}")).status_code == 200, asset
    assert (await client.get("/savings.json")).status_code == 401
    assert (await client.get("/savings.json", headers=_token(settings))).status_code == 403


async def test_recent_decisions_show_only_shared_text(served) -> None:
    settings, client, _, _ = served
    shared = await _ask(served, SHARED_Q, "u-0002")
    personal = await _ask(served, PERSONAL_Q, "u-0001")
    data = (await client.get("/savings.json", headers=_token(settings, "ops",
                                                             roles=["operator"]))).json()
    by_run = {r["run_id"]: r for r in data["recent"]}
    assert by_run[personal["run_id"]]["text"] is None
    assert by_run[shared["run_id"]]["text"] == SHARED_Q
    assert data["requests"] >= 2 and data["spent_usd"] >= 0
    assert data["scope"] == "This replica"


async def test_one_json_line_per_request_without_personal_data(served, sy) -> None:
    from switchyard.bench.plan import plan_from_log

    settings, client, tmp, _ = served
    before = len((tmp / "requests.jsonl").read_text().splitlines())
    answers = [await _ask(served, q, "u-0001") for q in (PERSONAL_Q, SHARED_Q)]
    bad = await client.post("/v1/chat", json={"message": "   "}, headers=_token(settings))
    assert bad.status_code == 422
    lines = [json.loads(x) for x in (tmp / "requests.jsonl").read_text().splitlines()][before:]
    assert [x["run_id"] for x in lines[:2]] == [a["run_id"] for a in answers]
    assert [x["status"] for x in lines] == [200, 200, 422]
    raw = json.dumps(lines)
    for secret in ("u-0001", "default|", "balance is", "Ines"):
        assert secret not in raw, secret
    personal, shared = lines[0], lines[1]
    assert personal["text"] is None and shared["text"] == SHARED_Q
    assert personal["cost_usd"] == answers[0]["cost_usd"]
    assert personal["counterfactual_usd"] == answers[0]["counterfactual_usd"]
    assert set(personal["scores"]) == {"low", "medium", "high"}
    assert lines[2]["outcome"] == "error" and lines[2]["error_kind"] == "invalid_request"

    # switchyard plan --log plans from production's own classification and figures.
    plan, markdown = plan_from_log(tmp / "requests.jsonl", sy.classifier, sy.settings)
    logged = [json.loads(x) for x in (tmp / "requests.jsonl").read_text().splitlines()]
    answered = [x for x in logged if x.get("complexity")]
    assert plan["requests"] == len(answered)
    assert plan["measured"]["spent_usd"] == pytest.approx(sum(x["cost_usd"] for x in answered))
    assert plan["measured"]["counterfactual_usd"] == pytest.approx(
        sum(x["counterfactual_usd"] for x in answered))
    assert "## Measured in production" in markdown
    assert any("without a classification" in s["reason"] for s in plan["skipped"])


async def test_views_can_be_opened_or_turned_off(sy, tmp_path) -> None:
    from switchyard.service.app import ServiceConfig, create_app

    for observability, expect in (({"metrics_auth": "none"}, (200, 200)),
                                  ({"metrics": False, "savings_page": False}, (404, 404))):
        settings = _settings(sy, tmp_path, **observability)
        app = create_app(ServiceConfig(switchyard=variant(sy, settings),
                                       checkpoint_path=tmp_path / "threads.sqlite"))
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            got = ((await client.get("/metrics")).status_code,
                   (await client.get("/savings.json")).status_code)
            assert got == expect, observability
