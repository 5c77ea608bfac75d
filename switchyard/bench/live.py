"""``switchyard bench --live``: the workload against the configured, real endpoints.

The simulation (``bench/run.py``) never calls a model. This does, so it costs money: the CLI shows
``estimate()`` first and runs only with ``--yes``. The report puts what the run measured (latency
from the wall clock, tokens and cost from the providers' usage) beside what the simulation would
have projected for the same calls (each tier's latency profile applied to the measured tokens).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from switchyard.app import Switchyard
from switchyard.bench.workload import Workload
from switchyard.cache.faiss_backend import FaissSemanticCache
from switchyard.core.settings import Settings
from switchyard.llm.accounting import typical_request_cost


def estimate(workload: Workload, settings: Settings) -> dict[str, Any]:
    """What the run should cost at list prices, before anything is sent."""
    per_tier: dict[str, int] = {}
    for req in workload.requests:
        per_tier[req.oracle_tier] = per_tier.get(req.oracle_tier, 0) + 1
    cost = sum(n * typical_request_cost(tier, settings) for tier, n in per_tier.items())
    endpoints = {t: ("offline stand-in (no calls)" if settings.tier(t).provider == "offline"
                     else settings.tier_base_url(t) or "the provider's API")
                 for t in settings.tiers}
    return {"requests": len(workload), "by_tier": per_tier, "estimated_cost_usd": round(cost, 4),
            "endpoints": endpoints,
            "models": {t: settings.tier(t).model for t in settings.tiers}}


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _projected_model_ms(usage: list[dict[str, Any]], settings: Settings) -> float:
    """The simulation's model time for these calls: TTFT plus output tokens at decode speed."""
    total = 0.0
    for u in usage:
        tier = u.get("tier")
        if tier not in settings.tiers:
            continue
        cfg = settings.tier(tier)
        total += cfg.ttft_ms + 1000.0 * u.get("output_tokens", 0) / cfg.tokens_per_s
    return total


async def run_live(workload: Workload, settings: Settings, *, concurrency: int = 4
                   ) -> dict[str, Any]:
    """Route every request of ``workload`` through the real graph on the configured models."""
    if settings.use_offline_model:
        raise ValueError("no model endpoint is configured (set OPENAI_API_KEY or a tier base_url); "
                         "the live bench measures real endpoints only")
    with tempfile.TemporaryDirectory(prefix="switchyard-live-") as tmp:
        cache = FaissSemanticCache(Path(tmp) / "cache.sqlite", settings.cache,
                                   hash_key=settings.hash_key)
        sy = await Switchyard.aopen(settings, cache=cache)
        gate = asyncio.Semaphore(concurrency)
        rows: list[dict[str, Any]] = []

        async def one(req: Any) -> None:
            async with gate:
                start = time.perf_counter()
                try:
                    routed = await sy.aask(req.text, user_id=req.user_id or settings.demo_user_id)
                    record = routed.model_dump()
                    error = record.get("error")
                except Exception as exc:  # noqa: BLE001 - a failed request is a result here
                    record, error = {}, f"{type(exc).__name__}: {exc}"
                rows.append({"text": req.text, "wall_ms": (time.perf_counter() - start) * 1000,
                             "record": record, "error": error})

        started = time.perf_counter()
        await asyncio.gather(*(one(r) for r in workload.requests))
        wall_s = time.perf_counter() - started
        cache.close()
        await sy.aclose()
    return summarise_live(rows, settings, wall_s)


def summarise_live(rows: list[dict[str, Any]], settings: Settings, wall_s: float) -> dict[str, Any]:
    ok = [r for r in rows if not r["error"]]
    tiers: dict[str, dict[str, Any]] = {}
    for r in ok:
        rec = r["record"]
        tier = rec.get("agent") or "none"
        t = tiers.setdefault(tier, {"requests": 0, "latency_ms": [], "projected_ms": [],
                                    "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
                                    "model_ms": 0.0, "usage_estimated": 0})
        usage = rec.get("usage") or []
        t["requests"] += 1
        t["latency_ms"].append(r["wall_ms"])
        t["projected_ms"].append(_projected_model_ms(usage, settings))
        t["input_tokens"] += sum(u.get("input_tokens", 0) for u in usage)
        t["output_tokens"] += sum(u.get("output_tokens", 0) for u in usage)
        t["cost_usd"] += float(rec.get("cost_usd") or 0.0)
        t["model_ms"] += sum(float(ms) for step, ms in (rec.get("timings_ms") or {}).items()
                             if step.startswith(f"{tier}.") and not step.endswith("retrieve"))
        t["usage_estimated"] += sum(1 for u in usage if u.get("usage_estimated"))
    by_tier = {}
    for tier, t in tiers.items():
        by_tier[tier] = {
            "requests": t["requests"],
            "latency_p50_ms": round(statistics.median(t["latency_ms"]), 1),
            "latency_p95_ms": round(_percentile(t["latency_ms"], 0.95) or 0.0, 1),
            "simulated_model_p50_ms": round(statistics.median(t["projected_ms"]), 1),
            "input_tokens": t["input_tokens"], "output_tokens": t["output_tokens"],
            "output_tokens_per_s": (round(t["output_tokens"] / (t["model_ms"] / 1000.0), 1)
                                    if t["model_ms"] else None),
            "cost_usd": round(t["cost_usd"], 6),
            "calls_with_estimated_usage": t["usage_estimated"],
        }
    latencies = [r["wall_ms"] for r in ok]
    return {
        "mode": "live",
        "answer_sources": _count(r["record"].get("answer_source") or "none" for r in ok),
        "grounding": grounding_summary([r["record"] for r in ok]),
        "answers": [{"text": r["text"], "agent": r["record"].get("agent"),
                     "in_scope": r["record"].get("in_scope"),
                     "answer_source": r["record"].get("answer_source"),
                     "grounding": (r["record"].get("grounding") or {}).get("status"),
                     "wall_ms": round(r["wall_ms"], 1), "answer": r["record"].get("answer")}
                    for r in ok],
        "requests": len(rows), "errors": len(rows) - len(ok),
        "error_samples": [r["error"] for r in rows if r["error"]][:5],
        "wall_s": round(wall_s, 2),
        "latency_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "latency_p95_ms": round(_percentile(latencies, 0.95) or 0.0, 1) if latencies else None,
        "measured_cost_usd": round(sum(t["cost_usd"] for t in by_tier.values()), 6),
        "cache_hits": sum(1 for r in ok if r["record"].get("cache_hit")),
        "by_tier": by_tier,
        "models": {t: settings.tier(t).model for t in settings.tiers},
    }


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def grounding_summary(records: list[dict[str, Any]]) -> dict[str, int]:
    """The fast tier's answers by what the user was shown: a model answer that passed the
    grounding check (grounded, or an honest "cannot tell"), the extractive answer that replaced
    one that failed, a fixed deflection, or a cached answer (one that had passed)."""
    fast = [r for r in records if r.get("agent") == "fast"]
    checked = [r for r in fast if r.get("grounding")]
    status = _count((r["grounding"] or {}).get("status") for r in checked)
    return {"fast_answers": len(fast), "checked": len(checked),
            "passed": status.get("grounded", 0) + status.get("abstained", 0),
            "abstained": status.get("abstained", 0),
            "replaced": sum(1 for r in fast if r.get("answer_source") == "extractive"),
            # Out of scope: a small model's fixed deflection, or the model's own (no passages
            # to check it against).
            "fixed": sum(1 for r in fast if r.get("answer_source") == "fixed"),
            "deflected_by_model": sum(1 for r in fast if r.get("answer_source") == "model"
                                      and not r.get("grounding")),
            "cached": sum(1 for r in fast if r.get("answer_source") == "cache")}


def to_markdown(report: dict[str, Any], estimate_: dict[str, Any]) -> str:
    lines = ["# switchyard live bench", "",
             f"{report['requests']} requests, {report['errors']} errors, wall {report['wall_s']} s; "
             f"measured cost ${report['measured_cost_usd']:.6f} (estimated beforehand "
             f"${estimate_['estimated_cost_usd']:.4f}); latency p50 {report['latency_p50_ms']} ms, "
             f"p95 {report['latency_p95_ms']} ms.", "",
             "| tier | model | requests | p50 ms | p95 ms | simulated model p50 ms | in tok | "
             "out tok | out tok/s | cost $ |", "|---|---|---|---|---|---|---|---|---|---|"]
    for tier, t in report["by_tier"].items():
        lines.append(f"| {tier} | {report['models'].get(tier, '-')} | {t['requests']} | "
                     f"{t['latency_p50_ms']} | {t['latency_p95_ms']} | {t['simulated_model_p50_ms']} | "
                     f"{t['input_tokens']} | {t['output_tokens']} | {t['output_tokens_per_s']} | "
                     f"{t['cost_usd']:.6f} |")
    g = report.get("grounding") or {}
    if g.get("fast_answers"):
        lines += ["", f"Fast tier: {g['fast_answers']} answers. Grounding check (no model call): "
                      f"{g['passed']} of {g['checked']} model answers passed"
                      + (f" ({g['abstained']} of them say they cannot tell)" if g["abstained"] else "")
                      + f", {g['replaced']} replaced by the extractive answer from their passages; "
                      f"out of scope: {g['fixed']} fixed deflections, {g['deflected_by_model']} "
                      f"deflected by the model (not checked); {g['cached']} from the cache."]
    return "\n".join(lines) + "\n"
