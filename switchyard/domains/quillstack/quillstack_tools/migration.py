"""Migration estimates from the price sheet's migration terms and throughput figures."""

import math
import re
from typing import Any

from langgraph.prebuilt import ToolRuntime
from pydantic import Field, field_validator

from quillstack_tools.pricing import quote
from switchyard.tools.auth import resolve_caller
from switchyard.tools.common import ToolArgs, money, render, support_tool
from switchyard.tools.database import CustomerDatabase


class MigrationArgs(ToolArgs):
    users: int = Field(..., ge=1, le=1_000_000, description="Number of users to migrate.")
    data_gb: float | None = Field(
        None, ge=0, le=1_000_000,
        description="Data volume to import, in GB; leave empty if unknown (the estimate then "
                    "covers users and integrations and says the import is not priced).")
    integrations: int = Field(0, ge=0, le=500, description="Number of integrations to set up.")
    source_system: str | None = Field(None, max_length=60,
                                      description="The tool they migrate from (optional).")
    needs_sso: bool = Field(False, description="They need single sign-on (SAML).")
    needs_scim: bool = Field(False, description="They need SCIM user provisioning.")

    @field_validator("source_system")
    @classmethod
    def _source(cls, v: str | None) -> str | None:
        if v and not re.fullmatch(r"[\w .&+/()'-]{1,60}", v):
            raise ValueError("use letters, digits and simple punctuation only")
        return v or None


def _days(first: int, last: int) -> str:
    return f"day {first}" if first == last else f"days {first}-{last}"


def recommend_plan(product: dict[str, Any], users: int, needs_sso: bool,
                   needs_scim: bool) -> tuple[str, list[str], str]:
    """The cheapest plan (and add-ons) that fits the seat count and identity needs."""
    plans = product["plans"]
    options = []
    for key, spec in plans.items():
        if spec["max_seats"] is not None and users > spec["max_seats"]:
            continue
        if needs_scim and not spec["scim"]:
            continue
        addons: list[str] = []
        if needs_sso and not spec["sso"]:
            if key != "team":
                continue
            addons = ["sso"]
        seats = max(users, spec["min_seats"])
        options.append((quote(product, key, seats, "annual", addons)["monthly_total"], key, addons, seats))
    _, key, addons, seats = min(options)
    why = f"fits {users:,} users"
    if seats > users:
        why += f" (billed at the plan minimum of {seats} seats)"
    if needs_scim:
        why += "; SCIM provisioning needs Enterprise"
    elif needs_sso:
        why += "; SSO via the Team SSO add-on" if addons else "; SSO included"
    return key, addons, why


@support_tool(MigrationArgs)
def estimate_migration(users: int, data_gb: float | None = None, integrations: int = 0,
                       source_system: str | None = None, needs_sso: bool = False,
                       needs_scim: bool = False, *, runtime: ToolRuntime,
                       accounts: CustomerDatabase) -> str:
    """Estimate a migration to Quillstack: recommended plan for the number of users and SSO/SCIM
    needs, guided migration package cost, data import cost above the free allowance,
    integration setup cost, timeline in days from import and provisioning throughput, and a
    phased plan. Inputs: users, data_gb, integrations, optional source_system."""
    with accounts.connect() as conn:
        resolve_caller(runtime, conn)  # a signed-in customer only; reads no account data
    product = accounts.product
    mig = product["migration"]
    # Unknown volume: price nothing for the import and say so, rather than refuse to estimate.
    volume_known = data_gb is not None
    data_gb = data_gb or 0.0
    plan, addons, why = recommend_plan(product, users, needs_sso, needs_scim)
    plan_spec = product["plans"][plan]
    seats = max(users, plan_spec["min_seats"])
    subscription = quote(product, plan, seats, "annual", addons)

    extra_users = max(0, users - mig["guided_package_included_users"])
    package = mig["guided_package_flat"] + extra_users * mig["per_user_above_included"]
    billable_gb = max(0, math.ceil(data_gb - mig["free_import_gb"]))
    import_cost = billable_gb * mig["per_gb_above_free"]
    integration_cost = integrations * mig["per_integration_setup"]
    one_time = package + import_cost + integration_cost

    per_day = mig["users_provisioned_per_day_scim"] if needs_scim else mig["users_provisioned_per_day_csv"]
    provision_days = math.ceil(users / per_day)
    import_days = max(1, math.ceil(data_gb / mig["import_throughput_gb_per_day"])) if data_gb else 0
    total_days = provision_days + import_days
    source = f" from {source_system}" if source_system else ""
    phases = [
        f"Phase 1, {_days(1, provision_days)}: provision {users:,} users "
        f"({'SCIM' if needs_scim else 'CSV'}, {per_day:,}/day)"
        + (", configure SSO" if needs_sso or needs_scim else ""),
    ]
    if import_days:
        phases.append(f"Phase 2, {_days(provision_days + 1, total_days)}: import {data_gb:,g} GB "
                      f"({mig['import_throughput_gb_per_day']} GB/day)"
                      + (f" while the {integrations} integration(s) are set up" if integrations else ""))
    elif integrations:
        phases.append(f"Phase 2: set up {integrations} integration(s)")
    phases.append("Final phase: validate imported data, switch workflows over, retire the old system")
    return render(
        f"Migrating {users:,} users and "
        + (f"{data_gb:,g} GB" if volume_known else "an unstated data volume")
        + f"{source} with {integrations} integration(s): "
        f"recommended {plan_spec['name']}, one-time cost {money(one_time)}, about {total_days} "
        "working day(s).",
        [("recommended_plan", f"{plan_spec['name']}" + (f" + {', '.join(addons)} add-on" if addons else "")
          + f" ({why})"),
         ("subscription_annual_billing", f"{money(subscription['monthly_total'])} per month, "
                                         f"{money(subscription['annual_total'])} per year"),
         ("guided_package", f"{money(package)} ({money(mig['guided_package_flat'])} flat for up to "
                            f"{mig['guided_package_included_users']:,} users"
                            + (f" + {extra_users:,} x {money(mig['per_user_above_included'])}"
                               if extra_users else "") + ")"),
         ("data_import", (f"{money(import_cost)} (first {mig['free_import_gb']} GB free, "
                          f"{money(mig['per_gb_above_free'])} per GB above; {billable_gb:,} GB billable)")
          if volume_known else
          (f"not priced: data volume not given (first {mig['free_import_gb']} GB free, "
           f"{money(mig['per_gb_above_free'])} per GB above)")),
         ("integration_setup", f"{money(integration_cost)} ({integrations} x "
                               f"{money(mig['per_integration_setup'])})"),
         ("one_time_total", money(one_time)),
         ("timeline_days", f"{total_days} ({provision_days} provisioning + {import_days} import; "
                           "integration setup runs alongside the import)")],
        phases,
    )
