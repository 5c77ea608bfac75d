"""Outcomes from production: POST /v1/feedback on the real service with real JWTs, stored beside
the routing record, learnt from by `route train --from-feedback` (docs/outcomes.md)."""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from support.homes import copy_home
from typer.testing import CliRunner

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module"),
              pytest.mark.timeout(900)]

AUTH_SECRET = "feedback-signing-secret-" + "f" * 32
SECRET = "feedback-deployment-secret"
runner = CliRunner()

# Invoice exports: the bundled router sends them to the fast tier; the rater finds the fast
# tier's answers bad and the standard tier's good. Password resets: every tier's answer is good.
EXPORTS = ["How do I download my invoices as a CSV file?", "Can I export all my invoices to CSV?",
           "Where do I get a CSV export of past invoices?", "I need my invoice history as a spreadsheet",
           "How can I export invoices to Excel?", "Export my billing invoices as CSV please",
           "How to get invoices exported in CSV format"]
RESETS = ["I forgot my password", "How do I reset my password?", "Can't log in, need a password reset",
          "Reset password please", "I lost my password, how do I get a new one?",
          "password reset link not arriving"]
# Never asked or rated: near-duplicates of each group.
EXPORT_TWINS = ["How can I get a CSV of my invoices?", "Is there a way to download every invoice in one CSV?"]
RESET_TWINS = ["How do I change my password?", "help me reset my login password"]


def _settings(home: Path) -> Any:
    from switchyard.core.settings import Settings

    return Settings(home=home, auth="jwt", auth_secret=SecretStr(AUTH_SECRET),
                    secret=SecretStr(SECRET),
                    cache={"enabled": False},
                    # Half the requests go one tier up or down: both tiers get rated.
                    # Seeded: which requests explore decides what the router can learn from
                    # a few dozen ratings, so every run of these tests draws the same.
                    classifier={"exploration_share": 0.5, "exploration_seed": 7})


def _bearer(settings: Any, user: str) -> dict[str, str]:
    from switchyard.service.auth import issue_token

    return {"authorization": f"Bearer {issue_token(settings, user)}"}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, sy) -> Path:
    return copy_home(sy, tmp_path_factory.mktemp("feedback") / "home")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(home: Path) -> AsyncIterator[httpx.AsyncClient]:
    from switchyard.service.app import ServiceConfig, create_app

    application = create_app(ServiceConfig(settings=_settings(home)))
    async with (application.router.lifespan_context(application),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=application),
                                  base_url="http://switchyard.test", timeout=120) as c):
        yield c


async def _ask(client: httpx.AsyncClient, settings: Any, text: str, user: str = "u-0001") -> dict:
    resp = await client.post("/v1/chat", json={"message": text}, headers=_bearer(settings, user))
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_only_the_asker_rates_their_run(client: httpx.AsyncClient, home: Path) -> None:
    settings = _settings(home)
    ready = (await client.get("/readyz")).json()
    assert ready["routing"] == {"router": "complexity", "exploration_share": 0.5}
    record = await _ask(client, settings, "How do I reset my password?")
    run_id = record["run_id"]
    assert record["exploration"]["propensity"] in (0.5, 0.25)
    foreign = await client.post("/v1/feedback", json={"run_id": run_id, "score": 0},
                                headers=_bearer(settings, "u-0002"))
    assert foreign.status_code == 403, foreign.text
    assert "Only the user who asked" in foreign.json()["error"]
    anonymous = await client.post("/v1/feedback", json={"run_id": run_id, "score": 1})
    assert anonymous.status_code == 401
    unknown = await client.post("/v1/feedback", json={"run_id": "no-such-run", "score": 1},
                                headers=_bearer(settings, "u-0001"))
    assert unknown.status_code == 404
    for score in (3, -0.5, "0.5", "1", None, [1]):  # a number in 0..1 or a boolean, no string
        bad = await client.post("/v1/feedback", json={"run_id": run_id, "score": score},
                                headers=_bearer(settings, "u-0001"))
        assert bad.status_code == 422, (score, bad.text)
        assert "score" in bad.json()["error"]
    ok = await client.post("/v1/feedback", json={"run_id": run_id, "score": 1, "comment": "solved"},
                           headers=_bearer(settings, "u-0001"))
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["stored"] is True and body["langsmith"] is False  # tracing is off here
    assert body["answered_by"] == record["agent"]
    # Stored beside the routing record; the foreign attempt changed nothing.
    from switchyard.app import Switchyard

    with Switchyard(settings) as sy:
        kept = sy.feedback.run_record(run_id)
        assert kept["score"] == 1.0 and kept["route"] == record["route"]
        assert kept["exploration"] == record["exploration"]
        # The text is sealed at rest.
        import sqlite3

        raw = sqlite3.connect(home / "feedback.sqlite").execute(
            "SELECT text, comment FROM sy_routing_runs JOIN sy_feedback USING (run_id)").fetchall()
        assert raw and all("password" not in t and "solved" not in c for t, c in raw)


async def test_feedback_teaches_the_router(client: httpx.AsyncClient, home: Path,
                                           monkeypatch: pytest.MonkeyPatch, sy) -> None:
    from switchyard.app import Switchyard
    from switchyard.cli.main import app
    from switchyard.core.settings import Settings

    settings = _settings(home)
    before = Switchyard(Settings(home=home), encoder=sy.encoder).classifier
    assert {before.classify(t).recommended_agent for t in EXPORT_TWINS + RESET_TWINS} == {"fast"}

    answered: set[str] = set()
    for _ in range(5):
        for text in EXPORTS + RESETS:
            rec = await _ask(client, settings, text)
            answered.add(rec["agent"])
            good = text in RESETS or rec["agent"] != "fast"
            resp = await client.post("/v1/feedback", json={"run_id": rec["run_id"], "score": int(good)},
                                     headers=_bearer(settings, "u-0001"))
            assert resp.status_code == 200, resp.text
    assert {"fast", "standard"} <= answered  # exploration sent some of them one tier up

    monkeypatch.setenv("SWITCHYARD_HOME", str(home))
    monkeypatch.setenv("SWITCHYARD_SECRET", SECRET)  # the deployment's: it unseals the texts
    monkeypatch.delenv("SWITCHYARD_CONFIG", raising=False)
    res = runner.invoke(app, ["route", "train", "--from-feedback"])
    assert res.exit_code == 0, res.output
    manifest = json.loads((home / "classifier" / "outcome.json").read_text())
    assert manifest["source"].startswith("feedback:") and manifest["n_rows"] >= 65

    after = Switchyard(Settings(home=home), encoder=sy.encoder).classifier
    for text in EXPORT_TWINS:  # the fast tier failed these: routed up now
        got = after.classify(text)
        assert got.recommended_agent != "fast", (text, got.quality)
    # Learnt per request, not one verdict for all: the fast tier is trusted more on every reset
    # paraphrase than on any export paraphrase, by a clear margin on average. (From 65 ratings
    # the head is cautious: the reset paraphrases go up too at the default dial; docs/outcomes.md
    # says how much feedback it needs.)
    fast_q = {t: after.classify(t).quality["fast"] for t in EXPORT_TWINS + RESET_TWINS}
    mean = lambda texts: sum(fast_q[t] for t in texts) / len(texts)  # noqa: E731
    assert min(fast_q[t] for t in RESET_TWINS) > max(fast_q[t] for t in EXPORT_TWINS), fast_q
    assert mean(RESET_TWINS) > mean(EXPORT_TWINS) + 0.2, fast_q
    # No score far outside the ratings: a paraphrase is never given certainty it cannot have.
    assert all(0.05 < q < 0.95 for q in fast_q.values()), fast_q
    # Intents stay the bundled classifier's.
    assert after.classify(EXPORT_TWINS[0]).intent == "invoice_lookup"


async def test_feedback_is_recorded_on_the_langsmith_run_and_read_back(
        client: httpx.AsyncClient, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import langsmith
    from langchain_core.tracers.langchain import wait_for_all_tracers
    from support.langsmith_stub import LangSmithStub

    from switchyard.cli.main import app
    from switchyard.core.langsmith_feedback import (
        FEEDBACK_KEY,
        LangSmithReadError,
        read_langsmith_feedback,
    )

    settings = _settings(home)
    project = "switchyard-feedback-test"
    # SmithDB only: feedback must name the run's project, and runs are read only through the
    # runs query API.
    with LangSmithStub(backend="smithdb") as stub:
        for key, value in {"LANGSMITH_TRACING": "true", "LANGSMITH_ENDPOINT": stub.url,
                           "LANGCHAIN_TRACING_V2": "true", "LANGSMITH_API_KEY": "stub-key",
                           "LANGSMITH_PROJECT": project}.items():
            monkeypatch.setenv(key, value)
        _forget_langsmith_config()
        rated: dict[str, tuple[str, str, float]] = {}
        for text in EXPORTS[:6] + RESETS[:6]:
            rec = await _ask(client, settings, text)
            score = float(text in RESETS or rec["agent"] != "fast")
            resp = await client.post("/v1/feedback", json={"run_id": rec["run_id"], "score": score},
                                     headers=_bearer(settings, "u-0001"))
            assert resp.status_code == 200, resp.text
            assert resp.json()["langsmith"] is True
            rated[rec["run_id"]] = (text, rec["agent"], score)
        wait_for_all_tracers()
        # The feedback is on the run the service answered with (its trace's root run).
        on_runs = {f["run_id"]: f for f in stub.feedback.values()}
        assert set(on_runs) == set(rated)
        for run_id, (_, _, score) in rated.items():
            assert on_runs[run_id]["key"] == FEEDBACK_KEY and on_runs[run_id]["score"] == score
            assert on_runs[run_id]["session_id"] == stub.project_id(project)
            assert stub.runs[run_id]["name"] == "switchyard"
        # Read back through the langsmith client: text, tier and score of each rated run,
        # through the runs query API (SmithDB, alone or beside ClickHouse) and through
        # list_runs (ClickHouse only: a server before 0.16), without a deprecation warning.
        for backend, path in (("smithdb", "/api/v2/runs/query"), ("dual", "/api/v2/runs/query"),
                              ("clickhouse", "/runs/query")):
            stub.backend, stub.requests[:] = backend, []
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                back = {r["run_id"]: r for r in read_langsmith_feedback(project)}
            assert ("POST", path) in stub.requests
            assert {"/runs/query", "/api/v2/runs/query"} & {p for _, p in stub.requests} == {path}
            assert set(back) == set(rated), backend
            for run_id, (text, agent, score) in rated.items():
                assert (back[run_id]["text"], back[run_id]["answered_by"],
                        back[run_id]["score"]) == (text, agent, score)
                assert back[run_id]["propensity"] in (0.5, 0.25)
        # An SDK without list_runs (removed after 2027-01-31) reads through the runs query API.
        stub.backend = "dual"
        with monkeypatch.context() as m:
            m.delattr(langsmith.Client, "list_runs")
            assert set(r["run_id"] for r in read_langsmith_feedback(project)) == set(rated)
        # Only runs started inside the window are read, by either API.
        old_run = next(iter(rated))
        stub.runs[old_run]["start_time"] = (datetime.now(UTC) - timedelta(days=10)).isoformat()
        for backend in ("smithdb", "clickhouse"):
            stub.backend = backend
            got = {r["run_id"] for r in read_langsmith_feedback(project, since_days=5)}
            assert got == set(rated) - {old_run}, backend
            assert old_run in {r["run_id"] for r in read_langsmith_feedback(project, since_days=30)}
        # A project that does not exist is a clear error, not a traceback.
        with pytest.raises(LangSmithReadError, match="no project named 'no-such-project'"):
            read_langsmith_feedback("no-such-project")
        monkeypatch.setenv("SWITCHYARD_HOME", str(home))
        monkeypatch.setenv("SWITCHYARD_SECRET", SECRET)
        monkeypatch.delenv("SWITCHYARD_CONFIG", raising=False)
        res = runner.invoke(app, ["route", "train", "--from-langsmith", "no-such-project"])
        assert res.exit_code == 1 and "no project named 'no-such-project'" in res.output
        assert "Traceback" not in res.output
        res = runner.invoke(app, ["route", "train", "--from-langsmith", project])
        assert res.exit_code == 0, res.output
        manifest = json.loads((home / "classifier" / "outcome.json").read_text())
        assert manifest["source"] == f"langsmith:{project}:{len(rated)}"
    monkeypatch.undo()
    _forget_langsmith_config()


def _forget_langsmith_config() -> None:
    """langsmith caches its environment and client per process: read them again."""
    import langsmith.run_trees
    import langsmith.utils

    langsmith.utils.get_env_var.cache_clear()
    langsmith.utils.get_tracer_project.cache_clear()
    langsmith.run_trees._CLIENT = None


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_both_stores_keep_ratings_beside_the_run(backend: str, tmp_path: Path,
                                                       request: pytest.FixtureRequest) -> None:
    """The same contract embedded and on PostgreSQL: only the asker rates, a second rating
    replaces the first, rated runs read back unsealed, forgetting the user removes both."""
    from switchyard.feedback import NotYours, SqliteFeedbackStore, UnknownRun, feedback_outcomes

    secret = b"store-secret"
    if backend == "postgres":
        from switchyard.feedback import PgFeedbackStore
        from switchyard.pg.pool import PgPools

        pools = PgPools(request.getfixturevalue("pg_url"))
        request.addfinalizer(pools.close)
        store = PgFeedbackStore(pools, secret)
    else:
        store = SqliteFeedbackStore(tmp_path / "feedback.sqlite", secret)
    request.addfinalizer(store.close)
    import uuid

    ids = [str(uuid.uuid4()) for _ in range(3)]
    for rid, tier, p in zip(ids, ["fast", "standard", "fast"], [0.9, 0.05, 1.0], strict=True):
        store.record_run(run_id=rid, tenant="t1", user_hash="alice", text=f"question {tier} {rid}",
                         history=["earlier turn"], route=tier, answered_by=tier, cache_hit=False,
                         propensity=p, record={"route": tier, "agent": tier})
    with pytest.raises(NotYours):
        store.rate(ids[0], tenant="t1", user_hash="mallory", score=0.0, comment=None)
    with pytest.raises(NotYours):
        store.rate(ids[0], tenant="t2", user_hash="alice", score=0.0, comment=None)
    with pytest.raises(UnknownRun):
        store.rate(str(uuid.uuid4()), tenant="t1", user_hash="alice", score=0.0, comment=None)
    store.rate(ids[0], tenant="t1", user_hash="alice", score=0.0, comment="wrong")
    store.rate(ids[0], tenant="t1", user_hash="alice", score=1.0, comment="actually fine")
    store.rate(ids[1], tenant="t1", user_hash="alice", score=0.5, comment=None)
    runs = {r.run_id: r for r in store.rated_runs()}
    assert set(runs) == {ids[0], ids[1]}
    assert runs[ids[0]].score == 1.0 and runs[ids[0]].text == f"question fast {ids[0]}"
    assert runs[ids[0]].history == ["earlier turn"]
    assert store.run_record(ids[1])["score"] == 0.5
    # Importance weights: 1 / propensity, clipped.
    weights = {o.text.split()[1]: o.weight for o in feedback_outcomes(list(runs.values()), 10.0)}
    assert weights == {"fast": pytest.approx(1 / 0.9), "standard": 10.0}
    assert store.forget_user("alice") == 3
    assert store.rated_runs() == []
