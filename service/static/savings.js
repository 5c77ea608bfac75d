// The savings page: fetches savings.json (an operator's token in jwt mode) and renders it, every
// few seconds. Request text is user input: it only ever goes into textContent, never HTML.
(function () {
  "use strict";
  const TIERS = ["fast", "standard", "expert", "cache"];
  const LABEL = {fast: "fast", standard: "standard", expert: "expert", cache: "cache hit"};
  let chart = null;
  let timer = null;
  let refreshS = 5;  // until the service says (SWITCHYARD_OBSERVABILITY__PAGE_REFRESH_S)

  function token() {
    const m = /(?:^|&)token=([^&]+)/.exec(location.hash.slice(1));
    if (m) {
      sessionStorage.setItem("switchyard-token", decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);  // off the address bar
    }
    return sessionStorage.getItem("switchyard-token");
  }

  const usd = (x) => x == null ? "–" : "$" + (x >= 100 ? x.toFixed(2) : x >= 1 ? x.toFixed(3) : x.toFixed(4));
  const pct = (x) => x == null ? "–" : (x * 100).toFixed(1) + "%";
  // One precision for every tick of an axis, from its largest (not $1.500 next to $0.5000).
  const axisUsd = (vals) => {
    const top = Math.max(0, ...vals.map((v) => Math.abs(v)));
    const digits = top >= 100 ? 0 : top >= 1 ? 2 : top >= 0.01 ? 3 : 4;
    return vals.map((v) => "$" + v.toFixed(digits));
  };
  const secs = (x) => x == null ? "–" : x < 1 ? (x * 1000).toFixed(0) + " ms" : x.toFixed(2) + " s";

  function figure(id, value, text) {
    const el = document.getElementById(id);
    el.dataset.value = value == null ? "" : String(value);
    el.textContent = text;
  }

  function cell(row, text, cls) {
    const td = row.insertCell();
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function render(d) {
    const since = new Date(d.started_at * 1000);
    document.getElementById("scope").textContent =
      `${d.scope} since ${since.toLocaleString()} · refreshed ${new Date(d.generated_at * 1000).toLocaleTimeString()}`;
    figure("fig-requests", d.requests, d.requests.toLocaleString());
    figure("fig-errors", d.errors, d.errors.toLocaleString());
    figure("fig-spent", d.spent_usd, usd(d.spent_usd));
    figure("fig-counterfactual", d.counterfactual_usd, usd(d.counterfactual_usd));
    figure("fig-savings", d.savings, pct(d.savings));
    figure("fig-hit-rate", d.cache_hit_rate, pct(d.cache_hit_rate));

    const answered = TIERS.reduce((n, t) => n + d.tier_mix[t], 0);
    const bar = document.getElementById("mixbar");
    bar.replaceChildren();
    const body = document.querySelector("#mix tbody");
    body.replaceChildren();
    for (const t of TIERS) {
      const n = d.tier_mix[t], share = answered ? n / answered : 0;
      if (n) {
        const seg = document.createElement("div");
        seg.className = "t-" + t;
        seg.style.width = (share * 100) + "%";
        seg.title = `${LABEL[t]}: ${n}`;
        bar.appendChild(seg);
      }
      const row = body.insertRow();
      row.dataset.tier = t;
      const name = cell(row, LABEL[t]);
      const dot = document.createElement("span");
      dot.className = "dot t-" + t;
      name.prepend(dot);
      const lat = d.latency[t];
      const c1 = cell(row, n.toLocaleString(), "num count"); c1.dataset.value = n;
      const c2 = cell(row, pct(answered ? share : null), "num share"); c2.dataset.value = share;
      const c3 = cell(row, secs(lat.p50_s), "num p50"); c3.dataset.value = lat.p50_s ?? "";
      const c4 = cell(row, secs(lat.p95_s), "num p95"); c4.dataset.value = lat.p95_s ?? "";
    }

    const xs = d.history.map((p) => p.t);
    const data = [xs, d.history.map((p) => p.spent_usd), d.history.map((p) => p.counterfactual_usd)];
    const width = Math.min(document.getElementById("main").clientWidth || 1000, 1060);
    if (!chart && window.uPlot) {
      chart = new uPlot({
        width, height: 240,
        series: [{}, {label: "spent", stroke: "#0b7a53", width: 2, value: (u, v) => usd(v)},
                 {label: "all-expert counterfactual", stroke: "#eb5757", width: 2, dash: [6, 4],
                  value: (u, v) => usd(v)}],
        axes: [{}, {values: (u, vals) => axisUsd(vals), size: 70}],
      }, data, document.getElementById("chart"));
    } else if (chart) {
      chart.setData(data);
    }

    const recent = document.querySelector("#recent tbody");
    recent.replaceChildren();
    for (const r of d.recent) {
      const row = recent.insertRow();
      cell(row, new Date(r.ts * 1000).toLocaleTimeString());
      cell(row, r.tier || "–");
      cell(row, r.cache ? r.cache.result : "–");
      cell(row, r.complexity || "–");
      cell(row, r.intent || "–");
      cell(row, usd(r.cost_usd), "num");
      cell(row, usd(r.counterfactual_usd), "num");
      cell(row, secs(r.duration_ms == null ? null : r.duration_ms / 1000), "num");
      if (r.text) cell(row, r.text, "text"); else cell(row, "personal: masked", "masked");
    }
    document.getElementById("main").hidden = false;
    document.body.dataset.generatedAt = String(d.generated_at);
    document.body.dataset.rendered = "1";
  }

  function signIn(message) {
    clearTimeout(timer);
    document.getElementById("main").hidden = true;
    document.getElementById("signin").hidden = false;
    document.getElementById("signin-error").textContent = message || "";
    document.getElementById("scope").textContent = "Sign in as an operator.";
  }

  async function refresh() {
    const t = token();
    const headers = t ? {Authorization: "Bearer " + t} : {};
    let resp;
    clearTimeout(timer);
    try {
      resp = await fetch("savings.json", {headers, cache: "no-store"});
    } catch (e) {
      resp = null;
    }
    if (resp && (resp.status === 401 || resp.status === 403)) {
      const body = await resp.json().catch(() => ({}));
      signIn(body.error);
      return;
    }
    if (!resp || !resp.ok) {  // restarting, overloaded, unreachable: keep the last figures, retry
      document.getElementById("scope").textContent =
        `The service did not answer (${resp ? resp.status : "unreachable"}); retrying…`;
      timer = setTimeout(refresh, refreshS * 1000);
      return;
    }
    const d = await resp.json();
    refreshS = d.refresh_s;
    render(d);
    timer = setTimeout(refresh, refreshS * 1000);
  }

  document.getElementById("signin").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem("switchyard-token", document.getElementById("token").value.trim());
    document.getElementById("signin").hidden = true;
    refresh();
  });
  refresh();
})();
