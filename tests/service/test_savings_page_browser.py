"""Headless Chromium opens the savings page of a real ``switchyard serve``, waits for it to render,
and the figures on the page equal the replica's ``/metrics`` (issue 26).

Debian's ``chromium`` (``.ci/run`` installs it) runs with a fresh profile and no network beyond
the replica on 127.0.0.1. The screenshot is the CI artefact ``artifacts/savings-page.png`` (or
``$SWITCHYARD_ARTIFACTS_DIR/savings-page.png``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.replicas import serve_replicas

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AUTH_SECRET = secrets.token_hex(32)
# A tenant of its own: the home's embedded cache holds other tests' public answers.
TENANT = f"page-{secrets.token_hex(4)}"
SHARED_Q = "How do I enable multi-factor authentication?"
REQUESTS = [
    ("u-0001", "I forgot my password"),
    ("u-0002", SHARED_Q),
    ("u-0003", "Help me debug this system error: webhook deliveries fail with 401"),
    ("u-0004", "I want to migrate 10K users from our old system to yours. What's the best approach?"),
    ("u-0005", "I forgot my password"),
    ("u-0006", SHARED_Q),
    ("u-0001", "What's my account balance?"),
]


def _token(user: str, **claims: str) -> str:
    from switchyard.core.settings import Settings
    from switchyard.service.auth import issue_token

    return issue_token(Settings(auth_secret=AUTH_SECRET), user, tenant=TENANT, **claims)


class Figures(HTMLParser):
    """Every element's id, data-value, data-tier and text, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}  # id -> data-value
        self.mix: dict[str, dict[str, str]] = {}  # tier -> {count, share, p50, p95}
        self.body: dict[str, str] = {}
        self.cells: list[str] = []
        self._tier: str | None = None
        self._in_td = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = a
        if "id" in a and "data-value" in a:
            self.values[a["id"]] = a["data-value"]
        if tag == "tr" and "data-tier" in a:
            self._tier = a["data-tier"]
            self.mix[self._tier] = {}
        if tag == "td" and self._tier and "data-value" in a:
            kind = a.get("class", "").split()[-1]
            self.mix[self._tier][kind] = a["data-value"]
        if tag == "td":
            self._in_td = True
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._tier = None
        if tag == "td":
            self._in_td = False

    def handle_data(self, data: str) -> None:
        if self._in_td:
            self.cells[-1] += data


def chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
         "--virtual-time-budget=15000", *args, url],
        capture_output=True, text=True, timeout=180)


def metric_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, dict(s.labels), float(s.value))
            for family in text_string_to_metric_families(text) for s in family.samples]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                              "(.ci/run installs it)")
def test_the_page_shows_what_metrics_say(deps, switchyard_home, tmp_path) -> None:
    from switchyard.observability.metrics import histogram_quantile

    env = {"SWITCHYARD_HOME": str(switchyard_home), "SWITCHYARD_OFFLINE": "true",
           "SWITCHYARD_AUTH": "jwt", "SWITCHYARD_AUTH_SECRET": AUTH_SECRET,
           "SWITCHYARD_SECRET": secrets.token_hex(32), "HF_HUB_OFFLINE": "1",
           "SWITCHYARD_OBSERVABILITY__REQUEST_LOG": "off", "LANGSMITH_TRACING": "false"}
    with serve_replicas([("page", env)], tmp_path) as replicas:
        replica = replicas["page"]
        for user, text in REQUESTS:
            resp = httpx.post(f"{replica.url}/v1/chat", json={"message": text}, timeout=120,
                              headers={"authorization": f"Bearer {_token(user)}"})
            assert resp.status_code == 200, resp.text
        operator = _token("ops", roles=["operator"])
        url = f"{replica.url}/#token={operator}"
        dom = chromium(url, tmp_path / "profile-dom", "--dump-dom")
        assert dom.returncode == 0, dom.stderr[-3000:]
        metrics = httpx.get(f"{replica.url}/metrics", timeout=30,
                            headers={"authorization": f"Bearer {operator}"}).text
        artefacts = Path(os.environ.get("SWITCHYARD_ARTIFACTS_DIR", REPO / "artifacts"))
        artefacts.mkdir(parents=True, exist_ok=True)
        shot = artefacts / "savings-page.png"
        shot.unlink(missing_ok=True)
        taken = chromium(url, tmp_path / "profile-shot", f"--screenshot={shot}",
                         "--window-size=1280,1700", "--hide-scrollbars")
        assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-3000:]

    page = Figures()
    page.feed(dom.stdout)
    assert page.body.get("data-rendered") == "1", dom.stdout[:3000]
    samples = metric_samples(metrics)

    def total(name: str, **match: str) -> float:
        return sum(v for n, labels, v in samples
                   if n == name and all(labels.get(k) in w.split("|") for k, w in match.items()))

    spent = total("switchyard_cost_usd_total")
    counterfactual = total("switchyard_counterfactual_cost_usd_total")
    lookups = total("switchyard_requests_total", cache="hit|miss", outcome="ok")
    assert int(page.values["fig-requests"]) == total("switchyard_requests_total") == len(REQUESTS)
    assert float(page.values["fig-spent"]) == pytest.approx(spent, rel=1e-12)
    assert float(page.values["fig-counterfactual"]) == pytest.approx(counterfactual, rel=1e-12)
    assert float(page.values["fig-savings"]) == pytest.approx(1 - spent / counterfactual)
    assert float(page.values["fig-hit-rate"]) == pytest.approx(
        total("switchyard_requests_total", cache="hit") / lookups)
    for tier in ("fast", "standard", "expert"):
        assert float(page.mix[tier]["count"]) == total(
            "switchyard_requests_total", tier=tier, cache="miss|skip", outcome="ok"), tier
    assert float(page.mix["cache"]["count"]) == total("switchyard_requests_total", cache="hit")
    assert float(page.mix["cache"]["count"]) >= 1  # a repeat

    def quantile(q: float, **match: str) -> float | None:
        buckets: dict[float, float] = {}
        for n, labels, v in samples:
            if n == "switchyard_request_duration_seconds_bucket" and all(
                    labels.get(k) in w.split("|") for k, w in match.items()):
                buckets[float(labels["le"])] = buckets.get(float(labels["le"]), 0.0) + v
        return histogram_quantile(q, sorted(buckets.items()))

    for tier in ("fast", "standard", "expert"):
        for q, kind in ((0.5, "p50"), (0.95, "p95")):
            expected = quantile(q, tier=tier, cache="miss|skip")
            assert expected is not None
            assert float(page.mix[tier][kind]) == pytest.approx(expected), (tier, kind)
    assert float(page.mix["cache"]["p95"]) == pytest.approx(quantile(0.95, cache="hit"))
    # The last decisions: shared questions in clear, the personal one masked.
    assert SHARED_Q in page.cells
    assert "What's my account balance?" not in dom.stdout
    assert "personal: masked" in page.cells


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                              "(.ci/run installs it)")
def test_the_page_retries_when_the_service_does_not_answer(tmp_path) -> None:
    """A replica restarting (503) or unreachable leaves the page retrying, not stopped: the page's
    files from the package, ``savings.json`` failing twice, then answering."""
    import http.server
    import json
    import threading

    from switchyard.core.settings import Settings
    from switchyard.observability.metrics import SwitchyardMetrics
    from switchyard.service.savings_page import STATIC

    figures = json.dumps({**SwitchyardMetrics(Settings()).summary(), "scope": "This replica",
                          "refresh_s": 1.0}).encode()
    calls: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path.startswith("/savings.json"):
                calls.append(1)
                status, body, kind = (503, b"{}", "application/json") if len(calls) <= 2 \
                    else (200, figures, "application/json")
            else:
                name = "savings.html" if self.path == "/" else self.path.removeprefix("/assets/")
                path = (STATIC / name.lstrip("/")).resolve()
                kind = {".html": "text/html", ".js": "text/javascript",
                        ".css": "text/css"}.get(path.suffix, "application/octet-stream")
                if path.is_relative_to(STATIC.resolve()) and path.is_file():
                    status, body = 200, path.read_bytes()
                else:  # the browser's favicon.ico
                    status, body = 404, b""
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        dom = chromium(f"http://127.0.0.1:{server.server_port}/", tmp_path / "profile",
                       "--dump-dom")
    finally:
        server.shutdown()
        server.server_close()
    assert dom.returncode == 0, dom.stderr[-3000:]
    page = Figures()
    page.feed(dom.stdout)
    assert len(calls) >= 3, calls
    assert page.body.get("data-rendered") == "1", dom.stdout[:3000]
    assert page.values["fig-requests"] == "0"
