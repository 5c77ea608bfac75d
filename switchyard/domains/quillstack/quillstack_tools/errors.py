"""Error codes: public lookup from the product fact sheet, and the caller's recent API errors."""

import re
from collections import Counter
from datetime import datetime, timedelta

from langgraph.prebuilt import ToolRuntime
from pydantic import Field

from quillstack_tools.seed import AS_OF
from switchyard.tools.auth import resolve_caller
from switchyard.tools.common import ToolArgs, ToolError, render, support_tool
from switchyard.tools.database import CustomerDatabase

# Words customers use for a code's family.
_FAMILY_WORDS = {
    "WH": ("webhook", "webhooks", "hook"), "SSO": ("sso", "saml", "single sign"),
    "IMP": ("import", "migration", "csv"), "BILL": ("billing", "payment", "card", "invoice"),
    "WF": ("workflow step", "step timeout"), "AUTH": ("locked", "lockout", "sign-in", "login"),
    "QS": ("api",),
}


def normalize_error_code(text: str, codes: dict[str, dict]) -> list[str]:
    """Known codes (of ``codes``, the product's error codes) that ``text`` names: 'wh-401',
    'WH 401', 'wh401', 'webhook 401', '429'."""
    t = text.upper()
    for prefix, num in re.findall(r"\b([A-Z]{2,4})[\s_\-]*(\d{3})\b", t):
        if f"{prefix}-{num}" in codes:
            return [f"{prefix}-{num}"]
    numbers = re.findall(r"\b(\d{3})\b", t)
    if not numbers:
        return []
    low = text.lower()
    families = [f for f, words in _FAMILY_WORDS.items() if any(w in low for w in words)]
    found: list[str] = []
    for n in numbers:
        matches = [c for c, spec in codes.items()
                   if c.endswith(f"-{n}") or str(spec["http"]) == n]
        narrowed = [c for c in matches if c.split("-")[0] in families]
        for c in narrowed or matches:
            if c not in found:
                found.append(c)
    return found


class LookupErrorArgs(ToolArgs):
    error_code: str = Field(..., min_length=1, max_length=80,
                            description="The error code as the customer wrote it, e.g. WH-401 "
                                        "or 'QS-429'.")


class RecentErrorsArgs(ToolArgs):
    days: int = Field(7, ge=1, le=90, description="How many days back to look (1-90).")
    error_code: str | None = Field(None, max_length=80,
                                   description="Only this error code, e.g. WH-401 (optional).")


@support_tool(LookupErrorArgs)
def lookup_error_code(error_code: str, *, accounts: CustomerDatabase) -> str:
    """Explain a Quillstack error code (API, webhook, SSO, import, billing, workflow codes such
    as QS-429, WH-401, SSO-001, IMP-422, BILL-402): what it means, the usual cause and the fix.
    Public documentation; reads no account data."""
    codes = accounts.product["error_codes"]
    matches = normalize_error_code(error_code, codes)
    if not matches:
        raise ToolError(f"unknown error code '{error_code[:40]}'; known codes: "
                        + ", ".join(sorted(codes)))
    if len(matches) > 1:
        return render(f"'{error_code[:40]}' matches {len(matches)} error codes; ask which one "
                      "the customer sees.",
                      rows=[f"{c}: {codes[c]['title']} (HTTP {codes[c]['http']})" for c in matches])
    code = matches[0]
    spec = codes[code]
    return render(f"{code} means '{spec['title']}' (HTTP {spec['http']}).",
                  [("code", code), ("cause", spec["cause"]), ("fix", spec["fix"])])


@support_tool(RecentErrorsArgs)
def recent_api_errors(days: int = 7, error_code: str | None = None, *,
                      runtime: ToolRuntime, accounts: CustomerDatabase) -> str:
    """Show the API and webhook errors the signed-in customer's organization received in the
    last `days` days (optionally one `error_code`): counts by code, endpoints and the most
    recent examples with request ids. For 'why are my webhooks failing', 'errors this week'."""
    code: str | None = None
    if error_code:
        matches = normalize_error_code(error_code, accounts.product["error_codes"])
        if len(matches) != 1:
            raise ToolError(f"'{error_code[:40]}' is not one known error code; use a code such "
                            "as WH-401 or QS-429")
        code = matches[0]
    end = datetime.combine(AS_OF, datetime.max.time()).replace(microsecond=0)
    since = end - timedelta(days=days)
    sql = ("SELECT occurred_at, error_code, http_status, endpoint, request_id FROM api_errors "
           "WHERE org_id = ? AND occurred_at > ? AND occurred_at <= ?")
    params: list[object] = []
    with accounts.connect() as conn:
        caller = resolve_caller(runtime, conn)
        params = [caller.org_id, since.isoformat(), end.isoformat()]
        if code:
            sql += " AND error_code = ?"
            params.append(code)
        rows = conn.execute(sql + " ORDER BY occurred_at DESC", params).fetchall()
    scope = f" with {code}" if code else ""
    if not rows:
        return render(f"No API errors{scope} for {caller.org_name} in the last {days} day(s).",
                      [("period", f"{since.date()} to {AS_OF}")])
    by_code = Counter(r["error_code"] for r in rows)
    endpoints = Counter((r["error_code"], r["endpoint"]) for r in rows)
    top_code, top_n = by_code.most_common(1)[0]
    titles = accounts.product["error_codes"]
    fields = [("period", f"{since.date()} to {AS_OF}"), ("total_errors", len(rows)),
              ("by_code", ", ".join(f"{c} x{n} ({titles[c]['title']})" for c, n in by_code.most_common())),
              ("first_seen", rows[-1]["occurred_at"].replace("T", " ")),
              ("last_seen", rows[0]["occurred_at"].replace("T", " ")),
              ("top_endpoint", "{} on {} (x{})".format(*endpoints.most_common(1)[0][0],
                                                       endpoints.most_common(1)[0][1])),
              ("likely_fix_for_" + top_code, titles[top_code]["fix"])]
    examples = [f"{r['occurred_at'].replace('T', ' ')} {r['error_code']} HTTP {r['http_status']} "
                f"{r['endpoint']} request_id={r['request_id']}" for r in rows[:5]]
    return render(f"{caller.org_name} had {len(rows)} API error(s){scope} in the last {days} "
                  f"day(s); most frequent: {top_code} ({top_n}x, {titles[top_code]['title']}).",
                  fields, examples)
