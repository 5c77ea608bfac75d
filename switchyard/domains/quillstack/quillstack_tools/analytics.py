"""Usage analytics over time for the caller's organization (expert tier)."""

from typing import Literal

from langgraph.prebuilt import ToolRuntime
from pydantic import Field

from quillstack_tools.seed import AS_OF, add_months, month_days
from switchyard.tools.auth import resolve_caller
from switchyard.tools.common import ToolArgs, render, support_tool
from switchyard.tools.database import CustomerDatabase

Metric = Literal["workflow_runs", "api_calls", "active_users"]


class UsageArgs(ToolArgs):
    months: int = Field(6, ge=1, le=24, description="How many months back, including the "
                                                    "current month to date (1-24).")
    metric: Metric = Field("workflow_runs", description="workflow_runs, api_calls or active_users.")


def _pct(new: float, old: float) -> str:
    if old == 0:
        return "n/a"
    return f"{(new - old) / old * 100:+.1f}%"


@support_tool(UsageArgs)
def usage_analytics(months: int = 6, metric: Metric = "workflow_runs", *,
                    runtime: ToolRuntime, accounts: CustomerDatabase) -> str:
    """Analyse the signed-in customer's organization usage over time: a monthly series of
    workflow runs, API calls or active users, the trend in percent, and utilisation of the
    plan's quota (included runs, seats, API rate limit). For capacity and upgrade questions."""
    start = add_months(AS_OF.replace(day=1), -(months - 1))
    agg = "MAX(active_users)" if metric == "active_users" else f"SUM({metric})"
    with accounts.connect() as conn:
        caller = resolve_caller(runtime, conn)
        # ``metric`` is a validated Literal, never user text, so it may name the column.
        rows = conn.execute(
            f"SELECT substr(day, 1, 7) AS month, {agg} AS value, COUNT(*) AS days, "
            "MAX(api_calls) AS peak_calls FROM usage_daily WHERE org_id = ? AND day >= ? "
            "GROUP BY month ORDER BY month",
            (caller.org_id, start.isoformat()),
        ).fetchall()
        sub = conn.execute("SELECT plan, seats FROM subscriptions WHERE org_id = ?",
                           (caller.org_id,)).fetchone()
        throttled = conn.execute(
            "SELECT COUNT(*) FROM api_errors WHERE org_id = ? AND error_code = 'QS-429' "
            "AND occurred_at >= ?", (caller.org_id, start.isoformat()),
        ).fetchone()[0]
    plan = accounts.product["plans"][sub["plan"]]
    if not rows:
        return render(f"No usage recorded for {caller.org_name} since {start}.")
    current = AS_OF.strftime("%Y-%m")
    complete = [r for r in rows if r["month"] != current]
    series = []
    for r in rows:
        label = f"{r['month']} (month to date, {r['days']} days)" if r["month"] == current else r["month"]
        extra = ""
        if metric == "workflow_runs":
            extra = f" = {r['value'] / plan['workflow_runs_included'] * 100:.0f}% of quota"
            if r["month"] == current:
                y, m = map(int, r["month"].split("-"))
                projected = r["value"] / r["days"] * month_days(AS_OF.replace(year=y, month=m))
                extra += f", on pace for {projected:,.0f}"
        elif metric == "active_users":
            extra = f" of {sub['seats']} seats"
        series.append(f"{label}: {r['value']:,}{extra}")
    fields: list[tuple[str, object]] = [("metric", metric), ("plan", plan["name"])]
    if len(complete) >= 2:
        fields.append(("trend", f"{_pct(complete[-1]['value'], complete[0]['value'])} from "
                                f"{complete[0]['month']} to {complete[-1]['month']}; "
                                f"{_pct(complete[-1]['value'], complete[-2]['value'])} last month"))
    last = complete[-1] if complete else rows[-1]
    if metric == "workflow_runs":
        included = plan["workflow_runs_included"]
        over = [r["month"] for r in complete if r["value"] > included]
        fields += [("quota", f"{included:,} runs included per month"),
                   ("utilisation_last_full_month", f"{last['value'] / included * 100:.0f}%"),
                   ("months_over_quota", ", ".join(over) or "none"),
                   ("overage_price", f"${accounts.product['overage_per_1000_runs']:.2f} per 1,000 runs above quota")]
        summary = (f"{caller.org_name} ran {last['value']:,} workflows in {last['month']}, "
                   f"{last['value'] / included * 100:.0f}% of the {plan['name']} quota.")
    elif metric == "active_users":
        fields.append(("seat_utilisation_last_full_month", f"{last['value'] / sub['seats'] * 100:.0f}% "
                       f"(peak {last['value']} of {sub['seats']} seats)"))
        summary = (f"{caller.org_name} peaked at {last['value']} daily active users in "
                   f"{last['month']}, of {sub['seats']} seats.")
    else:
        peak = max(r["peak_calls"] for r in rows)
        fields += [("api_rate_limit", f"{plan['api_rate_limit_per_min']:,} requests per minute"),
                   ("busiest_day_average_per_minute", f"{peak / 1440:,.1f}"),
                   ("rate_limited_QS_429_in_period", throttled)]
        summary = f"{caller.org_name} made {last['value']:,} API calls in {last['month']}."
    return render(summary, fields, series)
