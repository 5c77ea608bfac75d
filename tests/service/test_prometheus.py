"""A real Prometheus scrapes two ``switchyard serve`` replicas on one PostgreSQL; after a known set
of requests, PromQL over the scraped series returns the requests' own spend, counterfactual
spend, savings and tier mix (issue 26).

Replica A is scraped on its service port with an operator's token (``credentials_file``), replica
B on its token-less metrics listener (``SWITCHYARD_OBSERVABILITY__METRICS_PORT``). Prometheus is
Debian's ``prometheus`` package (``.ci/run`` installs it), with ``deploy/prometheus/rules.yml``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.replicas import free_port, serve_replicas

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus")
AUTH_SECRET = secrets.token_hex(32)
DEPLOYMENT_SECRET = secrets.token_hex(32)
TENANT = f"prom-{secrets.token_hex(4)}"  # its own cache partitions, whatever ran before
# Cheap and dear, repeats (cache hits on either replica), personal questions, one bad request.
REQUESTS = [
    ("u-0001", "I forgot my password"),
    ("u-0002", "How do I enable multi-factor authentication?"),
    ("u-0003", "Help me debug this system error: webhook deliveries fail with 401"),
    ("u-0004", "I want to migrate 10K users from our old system to yours. What's the best approach?"),
    ("u-0005", "I forgot my password"),
    ("u-0006", "How do I enable multi-factor authentication?"),
    ("u-0001", "What's my account balance?"),
    ("u-0001", "What's my account balance?"),
    ("u-0007", "How do I set up SSO with SAML?"),
    ("u-0008", "Should we restructure our whole workspace hierarchy before expanding to three new regions?"),
    ("u-0009", "How do I set up SSO with SAML?"),
    ("u-0002", "How do I export my data to CSV?"),
]


def _token(user: str, **claims: str) -> str:
    from switchyard.core.settings import Settings
    from switchyard.service.auth import issue_token

    return issue_token(Settings(auth_secret=AUTH_SECRET), user, ttl_s=3600, tenant=TENANT,
                       **claims)


def _env(home: Path, pg_url: str, workdir: Path, name: str, **extra: str) -> dict[str, str]:
    return {"SWITCHYARD_HOME": str(home), "SWITCHYARD_DATABASE_URL": pg_url,
            "SWITCHYARD_OFFLINE": "true", "SWITCHYARD_AUTH": "jwt",
            "SWITCHYARD_AUTH_SECRET": AUTH_SECRET, "SWITCHYARD_SECRET": DEPLOYMENT_SECRET,
            "SWITCHYARD_OBSERVABILITY__REQUEST_LOG": str(workdir / f"{name}.jsonl"),
            "HF_HUB_OFFLINE": "1", "LANGSMITH_TRACING": "false", **extra}


@contextlib.contextmanager
def prometheus(workdir: Path, a_url: str, b_metrics: str):
    port = free_port()
    token_file = workdir / "operator.token"
    token_file.write_text(_token("prometheus", roles=["operator"]))
    rules = workdir / "rules.yml"
    shutil.copy(REPO / "deploy" / "prometheus" / "rules.yml", rules)
    config = workdir / "prometheus.yml"
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": "switchyard-token", "static_configs": [{"targets": [a_url]}],
             "authorization": {"type": "Bearer", "credentials_file": str(token_file)}},
            {"job_name": "switchyard-listener", "static_configs": [{"targets": [b_metrics]}]},
        ]}))
    check = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (workdir / "prometheus.log").read_text()[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "prometheus did not become ready"
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def query(url: str, promql: str) -> list[dict]:
    resp = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def scalar(url: str, promql: str) -> float:
    result = query(url, promql)
    assert len(result) == 1, (promql, result)
    return float(result[0]["value"][1])


@pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus package is not installed "
                                                "(.ci/run installs it)")
def test_promql_over_two_replicas_equals_the_records(deps, pg_url, pg_pool, switchyard_home,
                                                     tmp_path) -> None:
    from switchyard.observability.metrics import histogram_quantile

    with pg_pool.connection() as conn:  # a clean shared cache: hits are the ones below
        conn.execute("TRUNCATE sy_cache_entries, sy_cache_counters, sy_flights")
        conn.execute("UPDATE sy_cache_totals SET n = 0, bytes = 0")
    b_metrics = free_port()
    specs = [("A", _env(switchyard_home, pg_url, tmp_path, "A")),
             ("B", _env(switchyard_home, pg_url, tmp_path, "B",
                        SWITCHYARD_OBSERVABILITY__METRICS_PORT=str(b_metrics)))]
    with serve_replicas(specs, tmp_path) as replicas:
        a, b = replicas["A"], replicas["B"]
        with prometheus(tmp_path, f"127.0.0.1:{a.port}", f"127.0.0.1:{b_metrics}") as prom:

            async def send() -> list[dict]:
                async with httpx.AsyncClient(timeout=120) as http:
                    out = []
                    for i, (user, text) in enumerate(REQUESTS):
                        target = a if i % 2 == 0 else b
                        resp = await http.post(f"{target.url}/v1/chat", json={"message": text},
                                               headers={"authorization": f"Bearer {_token(user)}"})
                        assert resp.status_code == 200, resp.text
                        out.append(resp.json())
                    bad = await http.post(f"{b.url}/v1/chat", json={"message": " "},
                                          headers={"authorization": f"Bearer {_token('u-0003')}"})
                    assert bad.status_code == 422
                    return out

            records = asyncio.run(send())
            n = len(records) + 1
            deadline = time.monotonic() + 60
            while True:  # until both replicas' last request has been scraped
                seen = query(prom, "sum(switchyard_requests_total)")
                if seen and float(seen[0]["value"][1]) == n:
                    break
                assert time.monotonic() < deadline, f"Prometheus saw {seen}, expected {n}"
                time.sleep(0.5)
            time.sleep(2.5)  # the recording rules' next evaluation

            up = {r["metric"]["job"]: r["value"][1] for r in query(prom, "up")}
            assert up == {"switchyard-token": "1", "switchyard-listener": "1"}
            spent = sum(r["cost_usd"] for r in records)
            counterfactual = sum(r["counterfactual_usd"] for r in records)
            savings = 1 - spent / counterfactual
            mix = Counter("cache" if r["cache_hit"] else r["agent"] for r in records)
            print(f"{len(records)} requests: spent ${spent:.6f}, all-expert ${counterfactual:.6f},"
                  f" saved {savings:.2%}, mix {dict(mix)}")
            assert {"fast", "standard", "expert", "cache"} <= set(mix)

            assert scalar(prom, "sum(switchyard_cost_usd_total)") == pytest.approx(spent, rel=1e-9)
            assert scalar(prom, "sum(switchyard_counterfactual_cost_usd_total)") == pytest.approx(
                counterfactual, rel=1e-9)
            assert scalar(prom, "1 - sum(switchyard_cost_usd_total) / "
                                "sum(switchyard_counterfactual_cost_usd_total)") == pytest.approx(
                savings, rel=1e-9)
            by_tier = {r["metric"]["tier"]: float(r["value"][1]) for r in query(
                prom, 'sum by (tier) (switchyard_requests_total{outcome="ok", cache!="hit"})')}
            hits = scalar(prom, 'sum(switchyard_requests_total{outcome="ok", cache="hit"})')
            assert {k: v for k, v in by_tier.items() if v} | {"cache": hits} == {
                k: float(v) for k, v in mix.items()}
            assert scalar(prom, "sum(switchyard_errors_total)") == 1.0

            # The ready-made recording rules say the same.
            assert scalar(prom, "switchyard:cost_usd:sum") == pytest.approx(spent, rel=1e-9)
            assert scalar(prom, "switchyard:counterfactual_usd:sum") == pytest.approx(
                counterfactual, rel=1e-9)
            assert scalar(prom, "switchyard:savings_ratio:sum") == pytest.approx(savings, rel=1e-9)
            recorded_mix = {(r["metric"]["tier"], r["metric"]["cache"]): float(r["value"][1])
                            for r in query(prom, "switchyard:requests:sum")}
            assert sum(v for (t, c), v in recorded_mix.items() if c == "hit") == mix["cache"]

            # The page's quantiles (histogram_quantile in Python) are PromQL's on the same buckets.
            scraped = []
            for replica_url, headers in ((a.url + "/metrics", {"authorization": "Bearer "
                                          + _token("ops", roles=["operator"])}),
                                         (f"http://127.0.0.1:{b_metrics}/metrics", {})):
                scraped.append(httpx.get(replica_url, headers=headers, timeout=10).text)
            buckets: dict[float, float] = {}
            for text in scraped:
                for family in text_string_to_metric_families(text):
                    for s in family.samples:
                        if (s.name == "switchyard_request_duration_seconds_bucket"
                                and s.labels["cache"] in ("miss", "skip")):
                            le = float(s.labels["le"])
                            buckets[le] = buckets.get(le, 0.0) + s.value
            for q in (0.5, 0.95):
                ours = histogram_quantile(q, sorted(buckets.items()))
                theirs = scalar(prom, f"histogram_quantile({q}, sum by (le) ("
                                      "switchyard_request_duration_seconds_bucket"
                                      '{cache=~"miss|skip"}))')
                assert ours is not None and not math.isnan(theirs)
                assert ours == pytest.approx(theirs, rel=1e-9), q

        # Each replica logged one line per request it answered, with the same figures.
        logged = [json.loads(x) for name in ("A", "B")
                  for x in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        assert sorted(x["run_id"] for x in logged if x["status"] == 200) == sorted(
            r["run_id"] for r in records)
        assert sum(x["cost_usd"] for x in logged) == pytest.approx(spent, rel=1e-9)
