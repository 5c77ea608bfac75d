"""Quillstack's customer data: its schema and a deterministic seed (the manifest's ``[accounts] seed``).

The historical data (organizations with their plans, users, subscriptions, invoices, usage, API
error logs, tickets) is a snapshot generated from a fixed random seed and dated relative to
``AS_OF``, so every ``switchyard db seed`` writes the same rows and tests can assert exact facts.
Prices, seat limits and quotas come from the pack's product sheet (``product.json``, the
manifest's ``paths.product``) so invoices agree with the price sheet, the pricing tools and the
articles. switchyard's account directory (``switchyard.tools.database``) builds the file, keeps
the runtime tables (identity verifications, password resets) across re-seeds and answers who is
signed in; this module only says what Quillstack's rows are.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import math
import random
from datetime import date, datetime, timedelta
from typing import Any

from switchyard.tools.database import AccountSeed

SEED = 20_261_120
# Bump when the generator changes so existing databases are rebuilt by ``db seed``.
GENERATOR_VERSION = 1
# The snapshot date of the historical data: "today" for invoices, usage and error logs.
AS_OF = date(2026, 11, 20)
INVOICE_MONTHS = 24
FIRST_INVOICE_NUMBER = 1001
N_ORGS = 240
DEMO_ORG_ID = 1

# The organizations table with Quillstack's own columns (it keeps the directory's id, name,
# domain, status and created); users are the directory's. Then Quillstack's own tables.
SCHEMA = """
CREATE TABLE organizations (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, domain TEXT NOT NULL UNIQUE,
    plan TEXT NOT NULL, region TEXT NOT NULL CHECK (region IN ('us', 'eu')),
    seats INTEGER NOT NULL, billing_cycle TEXT NOT NULL, tax_rate REAL NOT NULL,
    created TEXT NOT NULL, status TEXT NOT NULL
);
CREATE TABLE subscriptions (
    org_id INTEGER PRIMARY KEY REFERENCES organizations(id), plan TEXT NOT NULL,
    seats INTEGER NOT NULL, billing_cycle TEXT NOT NULL, addons TEXT NOT NULL,
    status TEXT NOT NULL, started TEXT NOT NULL, current_period_start TEXT NOT NULL,
    renews_on TEXT NOT NULL
);
CREATE TABLE plan_changes (
    id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL REFERENCES organizations(id),
    changed_on TEXT NOT NULL, kind TEXT NOT NULL, from_plan TEXT, to_plan TEXT,
    from_seats INTEGER, to_seats INTEGER, note TEXT NOT NULL
);
CREATE INDEX plan_changes_org ON plan_changes(org_id, changed_on);
CREATE TABLE invoices (
    number INTEGER PRIMARY KEY, org_id INTEGER NOT NULL REFERENCES organizations(id),
    issued TEXT NOT NULL, due TEXT NOT NULL, period_start TEXT NOT NULL, period_end TEXT NOT NULL,
    subtotal REAL NOT NULL, tax REAL NOT NULL, total REAL NOT NULL, amount_paid REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('paid', 'open', 'past_due'))
);
CREATE INDEX invoices_org ON invoices(org_id, issued);
CREATE TABLE invoice_lines (
    id INTEGER PRIMARY KEY, invoice_number INTEGER NOT NULL REFERENCES invoices(number),
    kind TEXT NOT NULL, description TEXT NOT NULL, quantity REAL NOT NULL,
    unit_price REAL NOT NULL, amount REAL NOT NULL
);
CREATE INDEX invoice_lines_invoice ON invoice_lines(invoice_number);
CREATE TABLE payments (
    id INTEGER PRIMARY KEY, invoice_number INTEGER NOT NULL REFERENCES invoices(number),
    org_id INTEGER NOT NULL, attempted_at TEXT NOT NULL, amount REAL NOT NULL,
    method TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
    error_code TEXT
);
CREATE INDEX payments_invoice ON payments(invoice_number);
CREATE TABLE usage_daily (
    org_id INTEGER NOT NULL, day TEXT NOT NULL, workflow_runs INTEGER NOT NULL,
    api_calls INTEGER NOT NULL, active_users INTEGER NOT NULL, PRIMARY KEY (org_id, day)
) WITHOUT ROWID;
CREATE TABLE api_errors (
    id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, occurred_at TEXT NOT NULL,
    error_code TEXT NOT NULL, http_status INTEGER NOT NULL, endpoint TEXT NOT NULL,
    request_id TEXT NOT NULL
);
CREATE INDEX api_errors_org ON api_errors(org_id, occurred_at);
CREATE TABLE support_tickets (
    id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, user_id TEXT NOT NULL, opened TEXT NOT NULL,
    category TEXT NOT NULL, subject TEXT NOT NULL, status TEXT NOT NULL, priority TEXT NOT NULL
);
CREATE INDEX support_tickets_org ON support_tickets(org_id);
"""


def seed_accounts(product: dict[str, Any]) -> AccountSeed:
    """What switchyard's account directory seeds for Quillstack (``[accounts] seed``)."""
    facts = hashlib.sha256(json.dumps(product, sort_keys=True).encode()).hexdigest()[:12]
    return AccountSeed(
        version=f"gen{GENERATOR_VERSION}-seed{SEED}-{AS_OF.isoformat()}-{facts}",
        schema=SCHEMA,
        generate=lambda: _generate(product),
        meta={"seed": str(SEED), "generator_version": str(GENERATOR_VERSION),
              "as_of": AS_OF.isoformat(), "demo_user_id": "u-0001",
              "demo_org_id": str(DEMO_ORG_ID)},
        headline=("organizations", "users", "invoices"),
    )


_ADJ = ["Acme", "Blue", "Northwind", "Granite", "Harbor", "Summit", "Lumen", "Cedar", "Vertex",
        "Orbit", "Atlas", "Maple", "Silver", "Quantum", "Pioneer", "Nimbus", "Redwood", "Beacon",
        "Falcon", "Juniper", "Keystone", "Meridian", "Nova", "Polar", "Sterling", "Tidal"]
_NOUN = ["Logistics", "Health", "Analytics", "Foods", "Robotics", "Media", "Capital", "Labs",
         "Retail", "Energy", "Travel", "Legal", "Studios", "Systems", "Freight", "Dental",
         "Insurance", "Realty", "Bikes", "Apparel"]
_FIRST = ["Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas",
          "Kira", "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara",
          "Uma", "Victor", "Wen", "Yusuf", "Zoe", "Marco", "Priya", "Lena", "Omar", "Sofia"]
_LAST = ["Alvarez", "Brooks", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Hughes",
         "Ito", "Jensen", "Kowalski", "Lopez", "Martin", "Nakamura", "Okafor", "Patel", "Quinn",
         "Rossi", "Schmidt", "Tanaka", "Usman", "Varga", "Weber", "Xu", "Young", "Zimmer"]
_PLAN_WEIGHTS = {"starter": 0.33, "team": 0.40, "business": 0.21, "enterprise": 0.06}
_SEAT_RANGE = {"starter": (1, 10), "team": (3, 60), "business": (10, 140),
               "enterprise": (100, 260)}
_UPGRADE = {"starter": "team", "team": "business", "business": "enterprise"}
_US_TAX = [0.0, 0.0, 0.06, 0.0725, 0.0825]
_ERROR_WEIGHTS = {
    "QS-400": 8, "QS-401": 5, "QS-403": 5, "QS-404": 8, "QS-409": 3, "QS-413": 1, "QS-429": 6,
    "QS-500": 2, "QS-503": 1, "WH-401": 4, "WH-404": 3, "WH-410": 1, "WH-504": 4,
    "AUTH-423": 2, "SSO-001": 1, "SSO-002": 1, "IMP-422": 3, "IMP-507": 1, "WF-408": 3,
}
_TICKETS = {
    "billing": ["Question about invoice {n}", "Card declined on renewal", "Need a VAT number on invoices",
                "Unexpected overage charge"],
    "login": ["Locked out after failed sign-ins", "Password reset email not arriving",
              "MFA device lost"],
    "api": ["Getting QS-429 rate limit errors", "API key stopped working", "Webhook deliveries failing"],
    "workflows": ["Workflow step times out", "Approval step stuck", "How to retry failed runs"],
    "migration": ["Import failed with IMP-422", "Planning a migration from our old tool"],
    "sso": ["SAML assertion invalid after certificate rotation", "New hires not provisioned via SSO"],
}


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def month_days(d: date) -> int:
    return calendar.monthrange(d.year, d.month)[1]


def _r2(x: float) -> float:
    return round(x + 1e-9, 2)


def _generate(product: dict[str, Any]) -> dict[str, list[tuple]]:
    """Generate every data table's rows. Pure function of (SEED, AS_OF, product facts)."""
    rng = random.Random(SEED)
    plans = product["plans"]
    addons_spec = product["addons"]
    discount = product["annual_discount_pct"] / 100
    overage_per_k = product["overage_per_1000_runs"]
    terms = product["billing"]["payment_terms_days"]

    first_issue = add_months(AS_OF.replace(day=1), -(INVOICE_MONTHS - 1))
    usage_start = add_months(first_issue, -1)  # the first invoice bills the month before's overage
    n_days = (AS_OF - usage_start).days + 1

    orgs: list[dict[str, Any]] = []
    used_names: set[str] = set()
    for org_id in range(1, N_ORGS + 1):
        while True:
            name = f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"
            if name not in used_names:
                break
            name = f"{name} {rng.choice(['Group', 'Co', 'Partners', 'Inc', 'GmbH', 'Ltd'])}"
            if name not in used_names:
                break
        used_names.add(name)
        plan = rng.choices(list(_PLAN_WEIGHTS), weights=list(_PLAN_WEIGHTS.values()))[0]
        lo, hi = _SEAT_RANGE[plan]
        region = "eu" if rng.random() < 0.35 else "us"
        created = (first_issue - timedelta(days=rng.randint(30, 1500)) if rng.random() < 0.85
                   else first_issue + timedelta(days=rng.randint(0, 640)))
        org = {
            "id": org_id, "name": name,
            "domain": name.lower().replace(" ", "") + ".example",
            "plan": plan, "seats": rng.randint(lo, hi), "region": region,
            "tax_rate": 0.20 if region == "eu" else rng.choice(_US_TAX),
            "cycle": "annual" if rng.random() < 0.3 else "monthly",
            "created": created, "util": rng.uniform(0.15, 1.05),
            "growth": rng.gauss(0.015, 0.03), "addons": [],
        }
        if plan == "team" and rng.random() < 0.25:
            org["addons"].append("sso")
        if rng.random() < 0.1:
            org["addons"].append("sandbox")
        if plan in ("team", "business") and rng.random() < 0.12:
            org["addons"].append("premium_support")
        orgs.append(org)

    # The demo organization: a Team customer billed monthly, growing into overage, who added
    # seats last month, whose latest card payment failed and whose webhooks started failing.
    demo = orgs[0]
    demo.update(name="Acme Logistics", domain="acmelogistics.example", plan="team", seats=38,
                region="us", tax_rate=0.0725, cycle="monthly", created=date(2022, 3, 14),
                util=1.0, growth=0.0, addons=["sso"])

    # ---- plan/seat history over the invoice window (applied month by month) ----------------
    plan_changes: list[tuple] = []
    # per org: list of (effective date, plan, seats) in order; starts with the state at first_issue
    for org in orgs:
        start = max(org["created"], usage_start)
        state_plan, state_seats = org["plan"], org["seats"]
        timeline = [(start, state_plan, state_seats)]
        events = []
        month = add_months(start.replace(day=1), 1)
        while month <= AS_OF.replace(day=1):
            if org["id"] == DEMO_ORG_ID:
                break
            p = rng.random()
            day = month.replace(day=rng.randint(2, month_days(month)))
            if day > AS_OF:
                break
            max_seats = plans[state_plan]["max_seats"] or 100_000
            if p < 0.07 and state_seats < max_seats:
                new_seats = min(max_seats, state_seats + max(1, round(state_seats * rng.uniform(0.05, 0.3))))
                events.append((day, "seats", state_plan, state_plan, state_seats, new_seats))
                state_seats = new_seats
                timeline.append((day, state_plan, state_seats))
            elif p < 0.077 and state_plan in _UPGRADE:
                new_plan = _UPGRADE[state_plan]
                new_seats = max(state_seats, plans[new_plan]["min_seats"])
                events.append((day, "upgrade", state_plan, new_plan, state_seats, new_seats))
                state_plan, state_seats = new_plan, new_seats
                timeline.append((day, state_plan, state_seats))
            month = add_months(month, 1)
        if org["id"] == DEMO_ORG_ID:
            # Upgraded from Starter long ago; added seats in 2025 and on 2026-10-17 (the latter
            # is prorated on the 2026-11-01 invoice).
            plan_changes.append((0, DEMO_ORG_ID, "2023-02-06", "upgrade", "starter", "team", 8, 30,
                                 "Upgraded Starter -> Team (8 -> 30 seats)"))
            events = [(date(2025, 4, 22), "seats", "team", "team", 30, 34),
                      (date(2026, 10, 17), "seats", "team", "team", 34, 38)]
            timeline = [(start, "team", 30), (date(2025, 4, 22), "team", 34),
                        (date(2026, 10, 17), "team", 38)]
            state_plan, state_seats = "team", 38
        for day, kind, fp, tp, fs, ts in events:
            note = (f"Added {ts - fs} seats ({fs} -> {ts})" if kind == "seats"
                    else f"Upgraded {plans[fp]['name']} -> {plans[tp]['name']} ({fs} -> {ts} seats)")
            plan_changes.append((0, org["id"], day.isoformat(), kind, fp, tp, fs, ts, note))
        org["timeline"] = timeline
        # Billing starts on the first invoice day on/after sign-up; annual terms renew then.
        first_bill = org["created"] if org["created"].day == 1 else add_months(org["created"].replace(day=1), 1)
        org["anchor_month"] = first_bill.month
        org["events"] = events
        # The organization's current state is the end of its timeline; the initial draw was
        # the state at the start of the window.
        org["plan"], org["seats"] = state_plan, state_seats
        if "sso" in org["addons"] and org["plan"] != "team":
            org["addons"].remove("sso")  # SSO is built into Business and Enterprise
        if "premium_support" in org["addons"] and org["plan"] not in ("team", "business"):
            org["addons"].remove("premium_support")
    plan_changes.sort(key=lambda r: (r[2], r[1]))
    plan_changes = [(i + 1, *r[1:]) for i, r in enumerate(plan_changes)]

    def state_on(org: dict[str, Any], d: date) -> tuple[str, int]:
        plan, seats = org["timeline"][0][1], org["timeline"][0][2]
        for day, p, s in org["timeline"]:
            if day <= d:
                plan, seats = p, s
        return plan, seats

    # ---- usage ----------------------------------------------------------------------------
    usage: list[tuple] = []
    monthly_runs: dict[tuple[int, str], int] = {}
    for org in orgs:
        first_day = max(org["created"], usage_start)
        offset = (first_day - usage_start).days
        users_active = max(1, round(org["seats"] * 0.85))
        for i in range(offset, n_days):
            d = usage_start + timedelta(days=i)
            plan, _ = state_on(org, d)
            months_in = i / 30.4
            trend = (1 + org["growth"]) ** months_in
            weekday = 1.0 if d.weekday() < 5 else 0.35
            if org["id"] == DEMO_ORG_ID:
                trend = 0.6 * (1.04 ** months_in)  # crosses the Team quota in the last months
            runs = int(plans[plan]["workflow_runs_included"] / 30 * org["util"] * trend
                       * weekday * rng.uniform(0.8, 1.2))
            calls = int(runs * rng.uniform(1.8, 3.2)) + rng.randint(0, 50)
            active = min(org["seats"], max(1, round(users_active * (0.8 if weekday == 1.0 else 0.2)
                                                    * rng.uniform(0.85, 1.1))))
            usage.append((org["id"], d.isoformat(), runs, calls, active))
            key = (org["id"], d.strftime("%Y-%m"))
            monthly_runs[key] = monthly_runs.get(key, 0) + runs

    # ---- invoices, lines, payments ---------------------------------------------------------
    invoices: list[tuple] = []
    lines: list[tuple] = []
    payments: list[tuple] = []
    billing_errors: list[tuple[int, datetime]] = []
    number = FIRST_INVOICE_NUMBER
    for m in range(INVOICE_MONTHS):
        issue = add_months(first_issue, m)
        prev_month = add_months(issue, -1)
        for org in orgs:
            if org["created"] > issue:
                continue
            plan, seats = state_on(org, issue)
            price = plans[plan]["price_per_user_month"]
            items: list[tuple[str, str, float, float, float]] = []
            renewal = org["anchor_month"] == issue.month
            if org["cycle"] == "monthly":
                items.append(("seats", f"{plans[plan]['name']} plan, {issue:%b %Y}: {seats} seats",
                              seats, price, _r2(seats * price)))
            elif renewal:
                unit = _r2(price * 12 * (1 - discount))
                items.append(("seats", f"{plans[plan]['name']} plan, annual term from {issue:%b %Y} "
                              f"({product['annual_discount_pct']}% annual discount): {seats} seats",
                              seats, unit, _r2(seats * unit)))
            # Prorations for changes made during the previous month.
            for day, kind, fp, tp, fs, ts in org["events"]:
                if not (prev_month <= day < issue):
                    continue
                days_left = (issue - day).days
                frac = days_left / month_days(prev_month)
                old_price = plans[fp]["price_per_user_month"]
                new_price = plans[tp]["price_per_user_month"]
                if org["cycle"] == "annual":
                    # Annual terms prorate to the renewal date at the discounted price.
                    renew = date(day.year, org["anchor_month"], 1)
                    if renew <= day:
                        renew = add_months(renew, 12)
                    days_left = (renew - day).days
                    frac = days_left / 365 * 12 * (1 - discount)
                if kind == "seats":
                    amt = _r2((ts - fs) * new_price * frac)
                    items.append(("proration", f"Proration: {ts - fs} seats added {day:%b %d}, "
                                  f"{days_left} days at {plans[tp]['name']} price", ts - fs,
                                  _r2(new_price * frac), amt))
                else:
                    amt = _r2((ts * new_price - fs * old_price) * frac)
                    items.append(("proration", f"Proration: upgrade {plans[fp]['name']} -> "
                                  f"{plans[tp]['name']} on {day:%b %d}, {days_left} days", 1, amt, amt))
            # Overage for the previous month's runs above the plan quota.
            pplan, _ = state_on(org, prev_month)
            runs = monthly_runs.get((org["id"], prev_month.strftime("%Y-%m")), 0)
            included = plans[pplan]["workflow_runs_included"]
            if runs > included:
                blocks = math.ceil((runs - included) / 1000)
                items.append(("overage", f"Workflow run overage, {prev_month:%b %Y}: "
                              f"{runs - included:,} runs above {included:,} included "
                              f"({blocks} x 1,000 runs)", blocks, overage_per_k,
                              _r2(blocks * overage_per_k)))
            for addon in org["addons"]:
                spec = addons_spec[addon]
                if "price_per_user_month" in spec:
                    items.append(("addon", f"{spec['name']}: {seats} seats", seats,
                                  spec["price_per_user_month"], _r2(seats * spec["price_per_user_month"])))
                else:
                    items.append(("addon", spec["name"], 1, spec["price_per_month"], spec["price_per_month"]))
            if not items:
                continue
            subtotal = _r2(sum(i[4] for i in items))
            tax = _r2(subtotal * org["tax_rate"])
            if tax:
                items.append(("tax", f"{'VAT' if org['region'] == 'eu' else 'Sales tax'} "
                              f"{org['tax_rate'] * 100:g}%", 1, tax, tax))
            total = _r2(subtotal + tax)
            due = issue + timedelta(days=terms)
            for kind, desc, qty, unit, amt in items:
                lines.append((0, number, kind, desc, qty, unit, amt))
            # Payments: cards are charged on issue; some fail with BILL-402.
            paid = 0.0
            by_card = not (org["plan"] in ("business", "enterprise") and org["id"] % 4 == 0)
            recent = m >= INVOICE_MONTHS - 2
            at = datetime.combine(issue, datetime.min.time()) + timedelta(hours=6, minutes=rng.randint(0, 59))
            if org["id"] == DEMO_ORG_ID and m == INVOICE_MONTHS - 1:
                for k in range(2):  # first charge and the automatic retry 24 h later both fail
                    t = at + timedelta(days=k)
                    payments.append((0, number, org["id"], t.isoformat(), total, "card", "failed", "BILL-402"))
                    billing_errors.append((org["id"], t))
            elif by_card:
                if rng.random() < 0.05:
                    payments.append((0, number, org["id"], at.isoformat(), total, "card", "failed", "BILL-402"))
                    billing_errors.append((org["id"], at))
                    retry = at + timedelta(days=1)
                    if recent and rng.random() < 0.6:
                        payments.append((0, number, org["id"], retry.isoformat(), total, "card", "failed", "BILL-402"))
                        billing_errors.append((org["id"], retry))
                    else:
                        later = at + timedelta(days=rng.randint(1, 9))
                        if later.date() <= AS_OF:
                            payments.append((0, number, org["id"], later.isoformat(), total, "card", "succeeded", None))
                            paid = total
                else:
                    payments.append((0, number, org["id"], at.isoformat(), total, "card", "succeeded", None))
                    paid = total
            else:
                when = at + timedelta(days=rng.randint(3, terms + 4))
                if when.date() <= AS_OF:
                    payments.append((0, number, org["id"], when.isoformat(), total, "bank_transfer", "succeeded", None))
                    paid = total
            status = "paid" if paid >= total else ("past_due" if due < AS_OF else "open")
            period_end = add_months(issue, 1) - timedelta(days=1)
            invoices.append((number, org["id"], issue.isoformat(), due.isoformat(), issue.isoformat(),
                             period_end.isoformat(), subtotal, tax, total, paid, status))
            number += 1
    lines = [(i + 1, *r[1:]) for i, r in enumerate(lines)]
    payments = [(i + 1, *r[1:]) for i, r in enumerate(payments)]

    # ---- organizations, subscriptions -----------------------------------------------------
    org_rows = [(o["id"], o["name"], o["domain"], o["plan"], o["region"], o["seats"], o["cycle"],
                 o["tax_rate"], o["created"].isoformat(), "active") for o in orgs]
    subs = []
    for o in orgs:
        if o["cycle"] == "monthly":
            period = AS_OF.replace(day=1)
            renews = add_months(period, 1)
        else:
            period = date(AS_OF.year, o["anchor_month"], 1)
            if period > AS_OF:
                period = add_months(period, -12)
            renews = add_months(period, 12)
        subs.append((o["id"], o["plan"], o["seats"], o["cycle"], ",".join(o["addons"]), "active",
                     o["created"].isoformat(), period.isoformat(), renews.isoformat()))

    # ---- users ----------------------------------------------------------------------------
    users: list[tuple] = []
    user_ids_by_org: dict[int, list[str]] = {}
    seq = 1
    for o in orgs:
        n = max(1, round(o["seats"] * rng.uniform(0.78, 1.0)))
        emails: set[str] = set()
        for k in range(n):
            uid = f"u-{seq:04d}"
            seq += 1
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            if o["id"] == DEMO_ORG_ID and k == 0:
                first, last = "Dana", "Reyes"
            local = f"{first}.{last}".lower()
            email = f"{local}@{o['domain']}"
            j = 2
            while email in emails:
                email = f"{local}{j}@{o['domain']}"
                j += 1
            emails.add(email)
            role = "admin" if k == 0 or rng.random() < 0.08 else rng.choice(["editor", "editor", "viewer"])
            p = rng.random()
            status, failed = "active", 0
            if k > 0 and p < 0.03:
                status = "invited"
            elif k > 0 and p < 0.07:
                status = "deactivated"
            elif k > 0 and p < 0.08:
                status, failed = "locked", 5
            elif rng.random() < 0.1:
                failed = rng.randint(1, 3)
            created = o["created"] + timedelta(days=rng.randint(0, max(1, (AS_OF - o["created"]).days)))
            if k == 0:
                created = o["created"]
            last_login = None if status == "invited" else (
                datetime.combine(AS_OF, datetime.min.time())
                - timedelta(minutes=rng.randint(10, 60 * 24 * 20))).isoformat()
            users.append((uid, o["id"], email, f"{first} {last}", role,
                          1 if (role == "admin" or rng.random() < 0.55) else 0,
                          status, failed, created.isoformat(), last_login))
            user_ids_by_org.setdefault(o["id"], []).append(uid)

    # ---- API error logs (last 120 days) ----------------------------------------------------
    codes = list(_ERROR_WEIGHTS)
    weights = list(_ERROR_WEIGHTS.values())
    http = {c: product["error_codes"][c]["http"] for c in product["error_codes"]}
    raw_errors: list[tuple[int, datetime, str, str]] = []
    window_start = datetime.combine(AS_OF - timedelta(days=120), datetime.min.time())
    end_of_day = datetime.combine(AS_OF, datetime.min.time()) + timedelta(hours=18)
    span = int((end_of_day - window_start).total_seconds())
    for o in orgs:
        for _ in range(rng.randint(0, 45)):
            code = rng.choices(codes, weights=weights)[0]
            t = window_start + timedelta(seconds=rng.randint(0, span))
            raw_errors.append((o["id"], t, code, _endpoint(rng, code, o["domain"])))
    for org_id, t in billing_errors:
        raw_errors.append((org_id, t, "BILL-402", "/v1/billing/charges"))
    # Demo: the webhook signing secret was rotated 4 days ago and the receiver was not updated.
    rotated = end_of_day - timedelta(days=4, hours=3)
    for k in range(46):
        t = rotated + timedelta(minutes=11 + k * 118 + rng.randint(0, 40))
        raw_errors.append((DEMO_ORG_ID, t, "WH-401", "POST https://hooks.acmelogistics.example/quillstack/events"))
    raw_errors.append((DEMO_ORG_ID, end_of_day - timedelta(days=2, hours=5), "QS-429", "/v1/workflows/wf_8812/runs"))
    raw_errors.sort(key=lambda e: (e[1], e[0], e[2]))
    api_errors = [(i + 1, org_id, t.isoformat(timespec="seconds"), code, http[code], ep,
                   f"req_{rng.getrandbits(48):012x}")
                  for i, (org_id, t, code, ep) in enumerate(raw_errors)]

    # ---- support tickets -------------------------------------------------------------------
    tickets: list[tuple] = []
    categories = list(_TICKETS)
    for o in orgs:
        for _ in range(rng.randint(1, 12)):
            cat = rng.choice(categories)
            subject = rng.choice(_TICKETS[cat]).format(n=rng.randint(FIRST_INVOICE_NUMBER, number - 1))
            opened = first_issue + timedelta(days=rng.randint(0, (AS_OF - first_issue).days))
            status = "open" if (AS_OF - opened).days < 10 and rng.random() < 0.6 else "closed"
            tickets.append((opened.isoformat(), o["id"], rng.choice(user_ids_by_org[o["id"]]), cat,
                            subject, status, rng.choice(["low", "normal", "normal", "high"])))
    tickets.append(((AS_OF - timedelta(days=1)).isoformat(), DEMO_ORG_ID, "u-0001", "api",
                    "Webhook deliveries failing with WH-401 since Monday", "open", "high"))
    tickets.sort(key=lambda t: (t[0], t[1]))
    ticket_rows = [(i + 1, t[1], t[2], t[0], t[3], t[4], t[5], t[6]) for i, t in enumerate(tickets)]

    return {
        "organizations": org_rows, "users": users, "subscriptions": subs,
        "plan_changes": plan_changes, "invoices": invoices, "invoice_lines": lines,
        "payments": payments, "usage_daily": usage, "api_errors": api_errors,
        "support_tickets": ticket_rows,
    }


def _endpoint(rng: random.Random, code: str, domain: str) -> str:
    if code.startswith("WH-"):
        path = rng.choice(["events", "webhooks/quillstack", "hooks/runs"])
        return f"POST https://hooks.{domain}/{path}"
    if code.startswith("SSO-"):
        return "/sso/saml/acs"
    if code == "AUTH-423":
        return "/login"
    if code.startswith("IMP-"):
        return "/v1/imports"
    if code == "WF-408":
        return f"/v1/runs/run_{rng.randint(10000, 99999)}"
    return rng.choice(["/v1/workflows", f"/v1/workflows/wf_{rng.randint(1000, 9999)}/runs",
                       "/v1/records", "/v1/runs", "/v1/files", "/v1/connections"])
