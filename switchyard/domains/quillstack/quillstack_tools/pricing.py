"""Price quotes from the price sheet in the pack's ``product.json`` (public; no account data)."""

import math
from typing import Any, Literal

from pydantic import Field, field_validator

from switchyard.tools.common import ToolArgs, ToolError, money, render, support_tool
from switchyard.tools.database import CustomerDatabase

Plan = Literal["starter", "team", "business", "enterprise"]
AddOn = Literal["sso", "sandbox", "premium_support"]
# Which plans each add-on may be bought on (from the add-on names in the price sheet).
ADDON_PLANS = {"sso": ("team",), "sandbox": ("starter", "team", "business", "enterprise"),
               "premium_support": ("team", "business")}


class PricingArgs(ToolArgs):
    plan: Plan = Field(..., description="starter, team, business or enterprise.")
    seats: int = Field(..., ge=1, le=100_000, description="Number of user seats.")
    billing_cycle: Literal["monthly", "annual"] = Field(
        "monthly", description="monthly, or annual (discounted).")
    add_ons: list[AddOn] = Field(default_factory=list, max_length=3,
                                 description="Add-ons: sso, sandbox, premium_support.")
    expected_runs: int | None = Field(None, ge=0, le=1_000_000_000,
                                      description="Expected workflow runs per month, to price overage.")

    @field_validator("plan", "billing_cycle", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("add_ons", mode="before")
    @classmethod
    def _addons(cls, v: object) -> object:
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list):
            return list(dict.fromkeys(a.strip().lower().replace(" ", "_").replace("-", "_")
                                      if isinstance(a, str) else a for a in v))
        return v


def quote(product: dict[str, Any], plan: str, seats: int, billing_cycle: str = "monthly",
          add_ons: list[str] | tuple = (), expected_runs: int | None = None
          ) -> dict[str, float | str]:
    """The numbers behind ``pricing_calculator`` (also used by the migration estimate), from
    the product's price sheet."""
    spec = product["plans"][plan]
    lo, hi = spec["min_seats"], spec["max_seats"]
    if seats < lo or (hi is not None and seats > hi):
        limits = f"{lo}-{hi}" if hi else f"at least {lo}"
        fits = [p["name"] for p in product["plans"].values()
                if p["min_seats"] <= seats and (p["max_seats"] is None or seats <= p["max_seats"])]
        raise ToolError(f"the {spec['name']} plan takes {limits} seats, not {seats}; plans that "
                        f"fit {seats} seats: {', '.join(fits)}")
    for a in add_ons:
        if plan not in ADDON_PLANS[a]:
            allowed = ", ".join(product["plans"][p]["name"] for p in ADDON_PLANS[a])
            raise ToolError(f"the {a} add-on is available on {allowed} only"
                            + (" (SSO is already included in Business and Enterprise)"
                               if a == "sso" else ""))
    discount = product["annual_discount_pct"] / 100 if billing_cycle == "annual" else 0.0
    seats_monthly = seats * spec["price_per_user_month"]
    addons_monthly = 0.0
    for a in add_ons:
        a_spec = product["addons"][a]
        addons_monthly += (seats * a_spec["price_per_user_month"] if "price_per_user_month" in a_spec
                           else a_spec["price_per_month"])
    overage_monthly = 0.0
    if expected_runs is not None and expected_runs > spec["workflow_runs_included"]:
        blocks = math.ceil((expected_runs - spec["workflow_runs_included"]) / 1000)
        overage_monthly = blocks * product["overage_per_1000_runs"]
    # The annual discount applies to the plan's seat price; add-ons and overage are list price.
    subscription_monthly = seats_monthly * (1 - discount)
    monthly_total = subscription_monthly + addons_monthly + overage_monthly
    return {
        "list_seats_monthly": round(seats_monthly, 2),
        "subscription_monthly": round(subscription_monthly, 2),
        "annual_savings": round(seats_monthly * discount * 12, 2),
        "addons_monthly": round(addons_monthly, 2), "overage_monthly": round(overage_monthly, 2),
        "monthly_total": round(monthly_total, 2), "annual_total": round(monthly_total * 12, 2),
        "per_seat_monthly": round(monthly_total / seats, 2),
    }


@support_tool(PricingArgs)
def pricing_calculator(plan: Plan, seats: int, billing_cycle: str = "monthly",
                       add_ons: list[str] | None = None, expected_runs: int | None = None, *,
                       accounts: CustomerDatabase) -> str:
    """Quote the price of a Quillstack plan from the official price sheet: plan, number of
    seats, monthly or annual billing (annual discount), add-ons and expected workflow runs
    (overage above the plan's included runs). Validates seat minimums and maximums."""
    add_ons = list(add_ons or [])
    product = accounts.product
    spec = product["plans"][plan]
    q = quote(product, plan, seats, billing_cycle, add_ons, expected_runs)
    fields: list[tuple[str, object]] = [
        ("plan", f"{spec['name']}, {money(spec['price_per_user_month'])} per user per month list"),
        ("seats", seats), ("billing_cycle", billing_cycle),
        ("seat_subscription_per_month", money(q["subscription_monthly"])
         + (f" ({product['annual_discount_pct']}% annual discount, saves "
            f"{money(q['annual_savings'])} a year)" if billing_cycle == "annual" else "")),
    ]
    if add_ons:
        fields.append(("add_ons_per_month", f"{money(q['addons_monthly'])} ({', '.join(add_ons)})"))
    if expected_runs is not None:
        included = spec["workflow_runs_included"]
        fields.append(("expected_overage_per_month",
                       f"{money(q['overage_monthly'])} ({expected_runs:,} runs vs {included:,} "
                       f"included; ${product['overage_per_1000_runs']:.2f} per 1,000 above)"))
    fields += [("total_per_month", money(q["monthly_total"])),
               ("total_per_year", money(q["annual_total"])),
               ("effective_per_seat_per_month", money(q["per_seat_monthly"]))]
    if billing_cycle == "monthly":
        annual = quote(product, plan, seats, "annual", add_ons, expected_runs)
        fields.append(("if_billed_annually", f"{money(annual['annual_total'])} per year "
                                              f"(saves {money(annual['annual_savings'])})"))
    return render(f"{spec['name']} for {seats} seats billed {billing_cycle} costs "
                  f"{money(q['monthly_total'])} per month ({money(q['annual_total'])} per year).",
                  fields)
