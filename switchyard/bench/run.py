"""Run the bench: the same workload through four configurations, in one process, async.

1. ``baseline``      every request to the expert, no cache (``force_tier="expert"``);
2. ``routed``        the router decides, no cache;
3. ``routed_cached`` the router decides, semantic cache on (a fresh, temporary cache);
4. ``oracle``        true labels decide (``force_tier``), cache on (its own fresh cache): the
                     lower bound for what routing plus caching can achieve on this workload.

The offline model simulates each tier's latency profile (TTFT + decode speed) and the tiers'
concurrency caps and rate limits apply, so queueing under load is part of what is measured.
The user's own cache is never touched: each cached configuration gets a throw-away cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler

from switchyard.app import Switchyard
from switchyard.bench.report import compare, red_flags, summarise
from switchyard.bench.workload import OUT_OF_SCOPE, BenchRequest, Workload
from switchyard.cache.base import SemanticCache
from switchyard.cache.policy import is_strategic
from switchyard.core.context import Context
from switchyard.core.settings import TIERS, CacheSettings, Settings
from switchyard.deps import Dependencies
from switchyard.graph.graph import build_graph
from switchyard.llm.factory import ModelFactory
from switchyard.record import RoutingRecord

Routing = Literal["expert", "router", "oracle"]


@dataclass(frozen=True)
class ConfigSpec:
    name: str
    routing: Routing
    use_cache: bool


CONFIG_SPECS: tuple[ConfigSpec, ...] = (
    ConfigSpec("baseline", "expert", False),
    ConfigSpec("routed", "router", False),
    ConfigSpec("routed_cached", "router", True),
    ConfigSpec("oracle", "oracle", True),
)

# Warm-up requests (one per tier, run before measuring, latency simulation off): lazy loads
# (index, classifier, DB connections, tool-description embeddings) must not count as overhead.
WARMUP: tuple[tuple[str, str], ...] = (
    ("fast", "How do I turn on two-factor authentication?"),
    ("standard", "Our webhook deliveries fail with a 401 error, what should I check?"),
    ("expert", "Plan a migration of 3,000 users and 40 workflows from our old helpdesk."),
)


@dataclass
class ConfigRun:
    spec: ConfigSpec
    results: list[dict[str, Any]]
    wall_s: float
    max_in_flight: int
    tier_calls_max: dict[str, int]
    strategic_cached: list[str] = field(default_factory=list)
    cache_entries: int = 0


class TierCallTracker(AsyncCallbackHandler):
    """Counts in-flight chat-model calls per tier (from the ``tier:<name>`` run tags), so the
    bench can show the per-tier concurrency caps hold."""

    def __init__(self) -> None:
        self.current: dict[str, int] = dict.fromkeys(TIERS, 0)
        self.peak: dict[str, int] = dict.fromkeys(TIERS, 0)
        self._runs: dict[UUID, str] = {}

    @staticmethod
    def _tier(tags: list[str] | None) -> str | None:
        for t in tags or []:
            if t.startswith("tier:") and t[5:] in TIERS:
                return t[5:]
        return None

    async def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID,
                                  tags: list[str] | None = None, **kwargs: Any) -> None:
        tier = self._tier(tags)
        if tier:
            self._runs[run_id] = tier
            self.current[tier] += 1
            self.peak[tier] = max(self.peak[tier], self.current[tier])

    async def _end(self, run_id: UUID) -> None:
        tier = self._runs.pop(run_id, None)
        if tier:
            self.current[tier] -= 1

    async def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        await self._end(run_id)

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        await self._end(run_id)


# -- settings and cache isolation ----------------------------------------------------------------
def simulation_settings(base: Settings, time_scale: float = 1.0) -> Settings:
    """``base`` with the offline model simulating each tier's latency profile.

    ``time_scale`` < 1 shrinks every model's simulated time (TTFT x k, decode speed / k) and raises
    its rate limit by 1/k, for quick runs and tests; the bench re-inflates the model time when it
    reports latency. Prices never change. The bench's graphs get these settings injected: no
    environment variable or process-wide setting changes, and no endpoint is ever called.
    """
    if not 0 < time_scale <= 1:
        raise ValueError("time_scale must be in (0, 1]")
    sim = base.model_copy(deep=True, update={"simulate_latency": True, "offline": True,
                                              "openai_api_key": None, "openai_base_url": None})
    for name, tier in sim.tiers.items():
        sim.tiers[name] = tier.model_copy(update={
            "ttft_ms": tier.ttft_ms * time_scale,
            "tokens_per_s": tier.tokens_per_s / time_scale,
            "requests_per_second": tier.requests_per_second / time_scale,
        })
    return sim


def _throwaway_cache(settings: Settings, directory: Path) -> SemanticCache:
    from switchyard.cache.faiss_backend import FaissSemanticCache

    return FaissSemanticCache(directory / "cache.sqlite", settings.cache, hash_key=settings.hash_key)


def config_dependencies(shared: Dependencies, settings: Settings, cache_path: Path) -> Dependencies:
    """One configuration's dependencies: the shared heavy parts (embedder, classifier, index,
    database), with its own settings, model factory and a fresh cache."""
    from switchyard.cache.faiss_backend import FaissSemanticCache

    return dataclasses.replace(
        shared, settings=settings,
        models=ModelFactory(settings, similarity=shared.models.similarity),
        cache=FaissSemanticCache(cache_path, settings.cache, hash_key=settings.hash_key))


def audit_cache(path: Path, workload: Workload, cs: CacheSettings,
                hash_key: bytes | None = None) -> tuple[int, list[str]]:
    """Entries in a (closed) bench cache that must never be there: expert-tier, high-complexity
    or strategic answers, judged by what the cache stored *and* by the request's true label.
    ``hash_key``: the deployment key that personal entries' texts are encrypted under."""
    from switchyard.core.sealing import Seal

    seal = Seal(hash_key, "cache") if hash_key else None

    if not path.exists():
        return 0, []
    truth = {r.text: r for r in workload.requests}
    bad: list[str] = []
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        rows = con.execute("SELECT text, intent, complexity, tier FROM entries").fetchall()
    for stored, intent, complexity, tier in rows:
        text = seal.open(stored) if seal is not None else stored
        true = truth.get(text)
        reasons = []
        if tier == "expert" or complexity == "high":
            reasons.append(f"stored as {tier}/{complexity}")
        # Out-of-scope deflections are the same for everyone and never advice: not strategic.
        if intent != OUT_OF_SCOPE and is_strategic(intent, text, cs):
            reasons.append(f"strategic intent {intent}")
        if true is not None and true.in_scope and (
            true.complexity == "high" or is_strategic(true.intent, text, cs)
        ):
            reasons.append(f"true label {true.complexity}/{true.intent}")
        if reasons:
            bad.append(f"{text[:60]!r} ({', '.join(reasons)})")
    return len(rows), bad


# -- one configuration --------------------------------------------------------------------------
def _force_tier(spec: ConfigSpec, req: BenchRequest) -> str | None:
    if spec.routing == "expert":
        return "expert"
    if spec.routing == "oracle":
        return req.oracle_tier
    return None


async def run_config(
    workload: Workload,
    spec: ConfigSpec,
    *,
    concurrency: int,
    graph: Any,
    tenant: str = "default",
    time_scale: float = 1.0,
    on_done: Callable[[], None] | None = None,
) -> ConfigRun:
    """Replay the workload in arrival order with ``concurrency`` requests in flight."""
    from langchain_core.messages import HumanMessage


    tracker = TierCallTracker()
    state = {"in_flight": 0, "max": 0}
    results: list[dict[str, Any] | None] = [None] * len(workload.requests)
    queue = iter(workload.requests)

    async def one(req: BenchRequest) -> dict[str, Any]:
        ctx = Context(user_id=req.user_id, tenant=tenant, force_tier=_force_tier(spec, req),
                      use_cache=spec.use_cache)
        messages = [HumanMessage(h) for h in req.history] + [HumanMessage(req.text)]
        config = {"run_name": f"switchyard.bench.{spec.name}", "callbacks": [tracker],
                  "tags": ["bench", f"bench:{spec.name}"]}
        state["in_flight"] += 1
        state["max"] = max(state["max"], state["in_flight"])
        start = time.perf_counter()
        error: str | None = None
        rec: dict[str, Any] = {}
        try:
            final = await graph.ainvoke({"messages": messages}, config=config, context=ctx)
            rec = RoutingRecord.from_state(final).model_dump()
            error = rec.get("error")
        except Exception as exc:  # counted and reported, never fatal to the bench
            error = f"{type(exc).__name__}: {exc}"
        finally:
            state["in_flight"] -= 1
        wall = (time.perf_counter() - start) * 1000.0
        usage = rec.get("usage") or []
        sim_scaled = sum(float(u.get("simulated_ms") or 0.0) for u in usage)
        # The graph's own time: everything except the (simulated) model time. Model calls of one
        # request are sequential, so their simulated times add up.
        overhead = wall - sim_scaled
        # Split it: waiting inside model calls (tier cap, rate limit) vs everything else
        # (embedding, classifier, cache, retrieval, tools, LangGraph itself).
        timings = rec.get("timings_ms") or {}
        call_ms = sum(float(timings.get(u.get("step"), 0.0) or 0.0) for u in usage
                      if u.get("tier") in TIERS)
        queue = max(0.0, call_ms - sim_scaled)
        cache = rec.get("cache") or {}
        labels = dict(req.outcomes)
        return {
            "idx": req.idx,
            # Outcome labels (when the data has them): the answering tier's (a cache hit's is
            # the tier that wrote the answer) and the expert's, for "quality kept".
            "outcome": labels.get(rec.get("agent") or "") if error is None else None,
            "expert_outcome": labels.get("expert"),
            "kind": req.kind,
            "ok": error is None,
            "error": error,
            "agent": rec.get("agent"),
            "route": (rec.get("route") or rec.get("agent")),
            "complexity": rec.get("complexity"),
            "intent": rec.get("intent"),
            "true_complexity": req.complexity,
            "true_intent": req.intent,
            "oracle_tier": req.oracle_tier,
            "cache_hit": bool(rec.get("cache_hit")),
            "cache_stored": bool(cache.get("stored")),
            "cache_reason": cache.get("store_reason") or cache.get("reason"),
            "cost_usd": float(rec.get("cost_usd") or 0.0),
            "classifier_cost_usd": sum(float(u.get("cost_usd") or 0.0) for u in usage
                                       if u.get("tier") == "classifier"),
            "calls": sum(1 for u in usage if u.get("tier") in TIERS),
            "simulated_ms": round(sim_scaled / time_scale, 1),
            "overhead_ms": round(overhead, 2),
            "queue_ms": round(queue, 2),
            "own_overhead_ms": round(overhead - queue, 2),
            # Latency at full simulated model time (identical to the wall time when time_scale=1).
            "wall_ms": round(overhead + sim_scaled / time_scale, 1),
            "measured_wall_ms": round(wall, 1),
        }

    async def worker() -> None:
        for req in queue:  # a shared iterator: requests start in arrival order
            results[req.idx] = await one(req)
            if on_done:
                on_done()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(workload.requests))))))
    wall_s = time.perf_counter() - start
    return ConfigRun(spec, [r for r in results if r is not None], wall_s, state["max"],
                     dict(tracker.peak))


# -- the whole bench ------------------------------------------------------------------------------
async def _warm_up(graph: Any) -> None:
    """One request per tier through a throw-away graph (offline, no simulated latency), so the
    first measured requests do not pay for lazy imports and first-call set-up."""
    from langchain_core.messages import HumanMessage


    for tier, text in WARMUP:
        await graph.ainvoke({"messages": [HumanMessage(text)]},
                            context=Context(force_tier=tier, use_cache=False))


def assumptions(s: Settings) -> dict[str, Any]:
    return {
        "tiers": {
            t: {
                "model": c.model, "input_per_m": c.input_per_m, "output_per_m": c.output_per_m,
                "ttft_ms": c.ttft_ms, "tokens_per_s": c.tokens_per_s,
                "reasoning_tokens": c.simulated_reasoning_tokens if c.reasoning_effort else 0,
                "max_concurrency": c.max_concurrency, "requests_per_second": c.requests_per_second,
            }
            for t, c in s.tiers.items()
        },
        "cache_ttl_s": dict(s.cache.ttl_s),
        "similarity_threshold": s.cache.similarity_threshold,
        "classifier": s.classifier.mode,
        "offline_model": True,
    }


async def run_bench(
    workload: Workload,
    *,
    settings: Settings,
    concurrency: int,
    daily_volume: int,
    time_scale: float = 1.0,
    configs: tuple[str, ...] = tuple(s.name for s in CONFIG_SPECS),
    progress: Callable[[str, int], Callable[[], None]] | None = None,
    warm_up: bool = True,
    results_sink: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Run the configurations one after another on the same workload; returns the report dict.

    ``progress(name, total)`` may return a per-request callback (the CLI's progress bar);
    ``results_sink`` receives the per-request results of each configuration (for diagnosis).
    """

    specs = [s for s in CONFIG_SPECS if s.name in configs]
    for required in ("baseline", "routed_cached", "oracle"):
        if required not in configs:
            raise ValueError(f"the comparison needs the {required!r} configuration")
    runs: dict[str, ConfigRun] = {}
    sim = simulation_settings(settings, time_scale)
    with tempfile.TemporaryDirectory(prefix="switchyard-bench-") as tmp:
        tmpdir = Path(tmp)
        # The home is prepared (seed, ingest, fit) as for any run; the user's own cache is never
        # touched: this one is thrown away.
        sy = await Switchyard.aopen(sim, cache=_throwaway_cache(sim, tmpdir / "shared"))
        shared = sy.deps
        if warm_up:
            quiet = sim.model_copy(update={"simulate_latency": False})
            warm = config_dependencies(shared, quiet, tmpdir / "warmup" / "cache.sqlite")
            await _warm_up(build_graph(warm).compile(name="switchyard"))
            warm.close()
        assumed = assumptions(sim)
        if time_scale != 1.0:  # report the real profiles, not the compressed ones
            for a in assumed["tiers"].values():
                a["ttft_ms"] /= time_scale
                a["tokens_per_s"] *= time_scale
                a["requests_per_second"] *= time_scale
        for spec in specs:
            on_done = progress(spec.name, len(workload)) if progress else None
            cache_path = tmpdir / spec.name / "cache.sqlite"
            deps = config_dependencies(shared, sim, cache_path)
            graph = build_graph(deps).compile(name="switchyard")
            try:
                run = await run_config(workload, spec, concurrency=concurrency, graph=graph,
                                       tenant=sim.default_tenant, time_scale=time_scale,
                                       on_done=on_done)
            finally:
                deps.close()
            # Closed now: audit what the configuration left in its cache.
            run.cache_entries, run.strategic_cached = audit_cache(
                cache_path, workload, sim.cache, sim.hash_key)
            runs[spec.name] = run
            if results_sink is not None:
                results_sink[spec.name] = run.results
        shared.cache.close()
        sy.close()
    return build_report(runs, workload=workload, concurrency=concurrency,
                        daily_volume=daily_volume, time_scale=time_scale, assumed=assumed)


def build_report(
    runs: dict[str, ConfigRun],
    *,
    workload: Workload,
    concurrency: int,
    daily_volume: int,
    time_scale: float,
    assumed: dict[str, Any],
) -> dict[str, Any]:
    configs: dict[str, dict[str, Any]] = {}
    for name, run in runs.items():
        s = summarise(run.results, wall_s=run.wall_s, daily_volume=daily_volume,
                      max_in_flight=run.max_in_flight)
        s["model_calls_in_flight_max"] = run.tier_calls_max
        s["cache_entries"] = run.cache_entries
        s["error_samples"] = sorted({r["error"] for r in run.results if r.get("error")})[:5]
        configs[name] = s
    head = compare(configs, daily_volume=daily_volume)
    strategic = [x for name in ("routed_cached", "oracle") if name in runs
                 for x in runs[name].strategic_cached]
    rc = configs["routed_cached"]
    report: dict[str, Any] = {
        "simulation": True,
        "concurrency": concurrency,
        "time_scale": time_scale,
        "daily_volume": daily_volume,
        **{k: configs.get(k) for k in ("baseline", "routed", "routed_cached", "oracle")},
        "cost_reduction_pct": head["cost_reduction_pct"],
        "latency_reduction_pct": head["latency_reduction_pct"],
        "p95_latency_reduction_pct": head["p95_latency_reduction_pct"],
        "oracle_cost_gap_pct": head["oracle_cost_gap_pct"],
        "projection": head["projection"],
        "throughput_rps": rc["throughput_rps"],
        "overhead_p50_ms": rc["overhead_p50_ms"],
        "overhead_p95_ms": rc["overhead_p95_ms"],
        "max_in_flight": max(c["max_in_flight"] for c in configs.values()),
        "errors": sum(c["errors"] for c in configs.values()),
        "targets": head["targets"],
        "workload": workload.summary(),
        "assumptions": assumed,
    }
    report["red_flags"] = red_flags(configs, strategic_cached=strategic)
    if rc.get("quality_kept") is not None:
        # "X% of all-expert quality at Y% of its cost", from the workload's outcome labels.
        report["quality"] = {"quality_kept": rc["quality_kept"],
                             "cost_share": round(1.0 - rc["cost_reduction_pct"] / 100.0, 4),
                             "labelled_requests": rc["quality_labelled"]}
    return report


def write_outputs(
    report: dict[str, Any],
    out_dir: Path,
    results: dict[str, list[dict[str, Any]]] | None = None,
    workload: Workload | None = None,
) -> dict[str, Path]:
    """report.json + report.md + chart.png in ``out_dir`` (+ results.jsonl, workload.jsonl)."""
    from switchyard.bench.chart import write_chart
    from switchyard.bench.report import to_markdown

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "md": out_dir / "report.md",
             "chart": out_dir / "chart.png"}
    report["outputs"] = {k: str(v) for k, v in paths.items()}
    write_chart(report, paths["chart"])
    paths["json"].write_text(json.dumps(report, indent=2, default=str))
    paths["md"].write_text(to_markdown(report, chart_name=paths["chart"].name))
    if results:
        paths["results"] = out_dir / "results.jsonl"
        with paths["results"].open("w", encoding="utf-8") as fh:
            for name, rows in results.items():
                for row in rows:
                    fh.write(json.dumps({"config": name, **row}, default=str) + "\n")
    if workload is not None:
        paths["workload"] = out_dir / "workload.jsonl"
        workload.to_jsonl(paths["workload"])
    return paths
