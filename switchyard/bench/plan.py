"""``switchyard plan``: the article's MULTI-AGENT SCALING PLAN, filled from a team's own traffic log.

The log is JSONL, one request per line: ``{"text": ..., "user_id"?: ..., "ts"?: ...}`` (``ts`` as
epoch seconds or ISO-8601), or the service's own request log (``{"event": "request", ...}``,
``switchyard.observability.request_log``), whose lines already hold the production classification,
route, cost and counterfactual cost (and the text only of shared-partition requests). Lines that
are neither are reported and skipped, never fatal.
Requests without a recorded classification are classified in one batch (one embedding pass),
then the measured mix, the top
intents per tier, per-tier cost and latency projections (settings' list prices and latency
profiles x typical token counts per tier), the caching policy (settings' TTLs) and the projected
savings against sending everything to the expert are written into the template.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from switchyard.classifier.schema import Classification
from switchyard.core.settings import TIER_FOR_COMPLEXITY, TIERS, Settings
from switchyard.llm.accounting import call_cost_usd, typical_calls
from switchyard.observability.request_log import EVENT as REQUEST_EVENT

if TYPE_CHECKING:
    from switchyard.classifier import Classifier

COMPLEXITIES: tuple[str, ...] = ("low", "medium", "high")
DAYS_PER_MONTH = 30
# The article's template targets, shown beside what this deployment projects.
ARTICLE_TARGETS: dict[str, dict[str, str]] = {
    "low": {"share": "60-70%", "latency": "<1.5s", "cost": "$0.003/request", "caching": "Yes (10-15 min TTL)"},
    "medium": {"share": "20-30%", "latency": "<2.5s", "cost": "$0.02/request", "caching": "Conditional (1-5 min TTL)"},
    "high": {"share": "5-10%", "latency": "<8s", "cost": "$0.15/request", "caching": "No"},
}


@dataclass
class LogLine:
    line_no: int
    text: str
    user_id: str | None = None
    ts: float | None = None
    # A request-log line: what production recorded (classification, route, cost).
    recorded: dict[str, Any] | None = None


@dataclass
class ParsedLog:
    lines: list[LogLine] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)
    blank: int = 0


# A traffic log's timestamps fall within these years; anything else (epoch milliseconds read
# as seconds, 1e300, a year-1 date) is a broken line, not 10^292 days of traffic.
TS_MIN = datetime(1990, 1, 1, tzinfo=UTC).timestamp()
TS_MAX = datetime(2200, 1, 1, tzinfo=UTC).timestamp()


def _parse_ts(raw: Any) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ValueError("ts must be epoch seconds or an ISO-8601 string")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise ValueError("ts is not a finite number")
        ts = float(raw)
    elif isinstance(raw, str):
        text = raw.strip().replace("Z", "+00:00")
        ts = datetime.fromisoformat(text).timestamp()
    else:
        raise ValueError("ts must be epoch seconds or an ISO-8601 string")
    if not math.isfinite(ts) or not TS_MIN <= ts < TS_MAX:
        raise ValueError(f"{raw!r} is not a date between 1990 and 2200 "
                         "(epoch seconds, not milliseconds)")
    return ts


def read_log(path: Path) -> ParsedLog:
    """Parse a JSONL traffic log; malformed lines are collected in ``skipped`` with the reason."""
    from switchyard.core.jsonsafe import loads_limited

    out = ParsedLog()
    raw = Path(path).read_bytes().decode("utf-8", errors="replace")
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            out.blank += 1
            continue
        try:
            obj = loads_limited(line, 32)
        except json.JSONDecodeError as exc:
            out.skipped.append((n, f"not JSON ({exc.msg})"))
            continue
        except ValueError as exc:  # nested too deeply: one bad line, not a crashed run
            out.skipped.append((n, str(exc)))
            continue
        if not isinstance(obj, dict):
            out.skipped.append((n, f"expected a JSON object, got {type(obj).__name__}"))
            continue
        if obj.get("event") == REQUEST_EVENT:
            why = _recorded_problem(obj)
            try:
                ts = _parse_ts(obj.get("ts"))
            except (ValueError, OverflowError, OSError) as exc:
                why = why or f"bad 'ts' ({exc})"
            if why:
                out.skipped.append((n, why))
                continue
            text = obj.get("text")
            out.lines.append(LogLine(n, text.strip() if isinstance(text, str) else "", ts=ts,
                                     recorded=obj))
            continue
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            out.skipped.append((n, "missing or empty 'text'"))
            continue
        if "\ufffd" in text or "\x00" in text:
            out.skipped.append((n, "text is not valid UTF-8 text"))
            continue
        user = obj.get("user_id")
        try:
            ts = _parse_ts(obj.get("ts"))
        except (ValueError, OverflowError, OSError) as exc:
            out.skipped.append((n, f"bad 'ts' ({exc})"))
            continue
        out.lines.append(LogLine(n, text.strip(), str(user) if user is not None else None, ts))
    return out


def _recorded_problem(obj: dict[str, Any]) -> str | None:
    """Why a request-log line cannot be planned from (None when it can)."""
    if obj.get("complexity") not in COMPLEXITIES:
        return "request-log line without a classification (refused before it, or failed)"
    if obj.get("route") not in TIERS:
        return "request-log line without a route"
    for key in ("cost_usd", "counterfactual_usd"):
        value = obj.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f"request-log line with a bad {key!r}"
    return None


def recorded_classification(obj: dict[str, Any]) -> Classification:
    """The classification production recorded on a request-log line."""
    confidence = obj.get("confidence")
    return Classification(
        complexity=obj["complexity"], recommended_agent=obj["route"],
        intent=str(obj.get("intent") or "unknown"), in_scope=obj.get("in_scope") is not False,
        requires_auth=bool(obj.get("requires_auth")),
        tools_needed=[str(t) for t in obj.get("tools_used") or [] if isinstance(t, str)],
        confidence=min(1.0, max(0.0, float(confidence))) if isinstance(confidence, int | float)
        and not isinstance(confidence, bool) else 0.0)


def tier_profile(tier: str, settings: Settings) -> dict[str, Any]:
    """Projected cost and latency of one request on ``tier``: list prices x typical tokens,
    TTFT + decode time per call (calls of one request are sequential)."""
    cfg = settings.tier(tier)
    calls = typical_calls(tier, settings)
    tin = sum(c[0] for c in calls)
    tout = sum(c[1] for c in calls)
    cost = call_cost_usd(tin, tout, cfg)
    latency_s = sum(cfg.ttft_ms / 1000 + out / cfg.tokens_per_s for _, out in calls)
    return {"model": cfg.model, "calls": len(calls), "input_tokens": tin, "output_tokens": tout,
            "cost_per_request_usd": round(cost, 6), "latency_s": round(latency_s, 2),
            "input_per_m": cfg.input_per_m, "output_per_m": cfg.output_per_m,
            "ttft_ms": cfg.ttft_ms, "tokens_per_s": cfg.tokens_per_s}


def caching_policy(complexity: str, settings: Settings) -> str:
    cs = settings.cache
    ttl = cs.ttl_s.get(complexity)
    if not cs.enabled or not ttl:
        return "No (never cached)"
    human = f"{ttl / 60:g} min" if ttl >= 60 else f"{ttl:g} s"
    kind = "Yes" if ttl >= 300 else "Conditional"
    return (f"{kind} ({human} TTL, absolute expiry; personal answers in the user's own partition; "
            "strategic recommendations, errors and truncated answers never stored)")


def daily_volume_of(log: ParsedLog, override: int | None = None) -> tuple[float, str]:
    """Requests per day: the override, else the log's rate over its time span (at least an hour),
    else the log taken as one day of traffic."""
    if override:
        return float(override), "given (--daily-volume)"
    stamps = sorted(x.ts for x in log.lines if x.ts is not None)
    n = len(log.lines)
    if len(stamps) >= 2 and stamps[-1] - stamps[0] >= 3600:
        span = stamps[-1] - stamps[0]
        days = span / 86400
        if days >= 1:
            return n / days, f"{n} requests over {days:.1f} days"
        return n, f"{n} requests over {span / 3600:.1f} h, taken as one day's traffic"
    return float(n), "the log taken as one day's traffic"


def build_plan(
    log: ParsedLog,
    classifications: Sequence[Any],
    *,
    daily_volume: int | None = None,
    settings: Settings,
    top: int = 5,
) -> dict[str, Any]:
    """Numbers behind the template. ``classifications[i]`` belongs to ``log.lines[i]``."""
    if len(classifications) != len(log.lines):
        raise ValueError("one classification per log line is needed")
    n = len(log.lines)
    profiles = {t: tier_profile(t, settings) for t in TIERS}
    sections: dict[str, Any] = {}
    for c in COMPLEXITIES:
        idx = [i for i, cl in enumerate(classifications) if cl.complexity == c]
        cls = [classifications[i] for i in idx]
        tier = TIER_FOR_COMPLEXITY[c]
        sections[c] = {
            "count": len(idx),
            "share": (len(idx) / n) if n else 0.0,
            "tier": tier,
            "top_intents": Counter(cl.intent for cl in cls).most_common(top),
            "top_tools": Counter(t for cl in cls for t in cl.tools_needed).most_common(top),
            "requires_auth": sum(1 for cl in cls if cl.requires_auth),
            "out_of_scope": sum(1 for cl in cls if not cl.in_scope),
            "examples": [log.lines[i].text for i in idx if log.lines[i].text][:3],
            "profile": profiles[tier],
            "caching": caching_policy(c, settings),
        }
    routed = Counter(cl.recommended_agent for cl in classifications)
    tier_share = {t: (routed.get(t, 0) / n if n else 0.0) for t in TIERS}
    per_request_routed = sum(tier_share[t] * profiles[t]["cost_per_request_usd"] for t in TIERS)
    per_request_expert = profiles["expert"]["cost_per_request_usd"]
    volume, volume_source = daily_volume_of(log, daily_volume)
    current_daily = per_request_expert * volume
    target_daily = per_request_routed * volume
    users = {x.user_id for x in log.lines if x.user_id}
    recorded = [x.recorded for x in log.lines if x.recorded is not None]
    measured = None
    if recorded:  # production's own figures, beside the projection
        spent = sum(float(r.get("cost_usd") or 0.0) for r in recorded)
        counterfactual = sum(float(r.get("counterfactual_usd") or 0.0) for r in recorded)
        hits = sum(1 for r in recorded if (r.get("cache") or {}).get("result") == "hit")
        measured = {
            "requests": len(recorded), "spent_usd": round(spent, 8),
            "counterfactual_usd": round(counterfactual, 8),
            "savings_pct": round((1 - spent / counterfactual) * 100, 2) if counterfactual > 0
            else None,
            "cache_hits": hits,
            "answered_by": dict(Counter(str(r.get("tier") or "none") for r in recorded)),
        }
    return {
        "requests": n,
        "skipped": [{"line": ln, "reason": why} for ln, why in log.skipped],
        "users": len(users),
        "sections": sections,
        "routed_tier_share": tier_share,
        "savings": {
            "daily_volume": round(volume, 1),
            "daily_volume_source": volume_source,
            "current_per_request_usd": round(per_request_expert, 6),
            "target_per_request_usd": round(per_request_routed, 6),
            "current_daily_usd": round(current_daily, 2),
            "target_daily_usd": round(target_daily, 2),
            "current_monthly_usd": round(current_daily * DAYS_PER_MONTH, 2),
            "target_monthly_usd": round(target_daily * DAYS_PER_MONTH, 2),
            "reduction_pct": round((1 - per_request_routed / per_request_expert) * 100, 2)
            if per_request_expert > 0 else 0.0,
        },
        "measured": measured,
    }


def _usd(x: float) -> str:
    return f"${x:,.2f}" if x >= 1 else f"${x:.4f}"


def render_markdown(plan: dict[str, Any], *, source: str = "") -> str:
    """The article's template, filled in."""
    titles = {"low": "Low", "medium": "Medium", "high": "High"}
    agents = {"fast": "Fast", "standard": "Standard", "expert": "Expert"}
    lines = ["# MULTI-AGENT SCALING PLAN", ""]
    skipped = len(plan["skipped"])
    lines.append(
        f"_Measured on {plan['requests']} requests from {plan['users']} users"
        + (f" in `{source}`" if source else "")
        + (f" ({skipped} malformed lines skipped)" if skipped else "")
        + ". Costs use list prices and typical token counts per tier; latency uses each model's "
        "latency profile (time to first token + decode speed)._"
    )
    lines += ["", "## Complexity Classification", ""]
    for c in COMPLEXITIES:
        s = plan["sections"][c]
        art = ARTICLE_TARGETS[c]
        p = s["profile"]
        intents = ", ".join(f"{name.replace('_', ' ')} ({k})" for name, k in s["top_intents"]) or "none seen"
        tier = s["tier"]
        lines += [
            f"### {titles[c]} Complexity (Target: {art['share']} of requests; measured: "
            f"{s['share']:.1%}, {s['count']} requests)",
            f"- Characteristics: {intents}",
        ]
        extras = []
        if s["requires_auth"]:
            extras.append(f"{s['requires_auth']} need the signed-in account")
        if s["out_of_scope"]:
            extras.append(f"{s['out_of_scope']} out of scope (deflected by the fast agent)")
        if s["top_tools"]:
            extras.append("tools: " + ", ".join(f"{t} ({k})" for t, k in s["top_tools"]))
        if extras:
            lines.append(f"  - {'; '.join(extras)}")
        for ex in s["examples"][:2]:
            lines.append(f"  - e.g. \"{ex[:100]}\"")
        lines += [
            f"- Agent: {agents[tier]} ({p['model']}, {p['calls']} model call{'s' if p['calls'] > 1 else ''}/request)",
            f"- Latency goal: <{math.ceil(p['latency_s'] * 1.1 * 10) / 10:g}s (projected {p['latency_s']:.1f}s "
            f"from TTFT {p['ttft_ms']:.0f} ms + {p['tokens_per_s']:.0f} tok/s; article: {art['latency']})",
            f"- Cost target: {_usd(p['cost_per_request_usd'])}/request ({p['input_tokens']:,} in + "
            f"{p['output_tokens']:,} out tokens at ${p['input_per_m']:.2f}/${p['output_per_m']:.2f} per 1M; "
            f"article: {art['cost']})",
            f"- Caching: {s['caching']}",
            "",
        ]
    sv = plan["savings"]
    share = plan["routed_tier_share"]
    lines += [
        "## Projected Savings",
        f"{_usd(sv['current_daily_usd'])}/day → {_usd(sv['target_daily_usd'])}/day "
        f"({_usd(sv['current_monthly_usd'])} → {_usd(sv['target_monthly_usd'])}/month; "
        f"{sv['reduction_pct']:.1f}% reduction) (Target: 60-70% reduction)",
        "",
        f"- Volume: {sv['daily_volume']:,.0f} requests/day ({sv['daily_volume_source']}).",
        f"- Current: every request to the expert at {_usd(sv['current_per_request_usd'])}/request.",
        f"- Target: routed {share['fast']:.1%} fast / {share['standard']:.1%} standard / "
        f"{share['expert']:.1%} expert at {_usd(sv['target_per_request_usd'])}/request, before "
        "cache hits (each hit costs $0).",
        "",
    ]
    m = plan.get("measured")
    if m:
        saved = f"{m['savings_pct']:.1f}% saved" if m["savings_pct"] is not None else "no spend"
        lines += [
            "## Measured in production",
            f"{m['requests']} logged requests: {_usd(m['spent_usd'])} spent against "
            f"{_usd(m['counterfactual_usd'])} had each gone to the expert with no cache "
            f"({saved}); {m['cache_hits']} cache hits; answered by "
            + ", ".join(f"{k} {v}" for k, v in sorted(m["answered_by"].items())) + ".",
            "",
        ]
    if plan["skipped"]:
        lines += ["## Skipped log lines", ""]
        lines += [f"- line {s['line']}: {s['reason']}" for s in plan["skipped"][:20]]
        if skipped > 20:
            lines.append(f"- ... and {skipped - 20} more")
        lines.append("")
    return "\n".join(lines)


def plan_from_log(path: Path, classifier: Classifier, settings: Settings, *,
                  daily_volume: int | None = None) -> tuple[dict[str, Any], str]:
    """Read, classify (one batched embedding pass) and fill the template."""
    log = read_log(path)
    texts = [x.text for x in log.lines if x.recorded is None]
    fresh = iter(classifier.classify_many(texts) if texts else [])
    classifications = [recorded_classification(x.recorded) if x.recorded is not None
                       else next(fresh) for x in log.lines]
    plan = build_plan(log, classifications, daily_volume=daily_volume, settings=settings)
    return plan, render_markdown(plan, source=str(path))

