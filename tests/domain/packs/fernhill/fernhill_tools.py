"""Fernhill's tools for the second-pack test: one public, one reading the caller's own orders."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime

from switchyard.core.context import Context

ORDERS = {
    "u-0001": [("FH-1001", "Monstera deliciosa", "shipped, arriving Thursday"),
               ("FH-1002", "Pothos", "delivered")],
    "u-0002": [("FH-2002", "Lemon tree", "being packed")],
}
FROST = {
    "north": ("May 20", "September 25"),
    "south": ("April 1", "November 10"),
    "coast": ("April 15", "October 30"),
}


def _user(runtime: Any) -> str | None:
    ctx = getattr(runtime, "context", None)
    uid = ctx.get("user_id") if isinstance(ctx, dict) else getattr(ctx, "user_id", None)
    return uid or None


@tool
def frost_calendar(region: str = "north") -> str:
    """Last spring frost and first autumn frost dates for a region (north, south or coast)."""
    last, first = FROST.get(region.strip().lower(), FROST["north"])
    return f"Frost dates for the {region} region.\nlast_spring_frost: {last}\nfirst_autumn_frost: {first}"


@tool
def my_orders(runtime: ToolRuntime[Context]) -> str:
    """The signed-in customer's Fernhill orders and where each one is."""
    user = _user(runtime)
    if user is None:
        return "ERROR: nobody is signed in; sign in to see your orders."
    orders = ORDERS.get(user, [])
    if not orders:
        return "You have no Fernhill orders."
    # The first line is the summary a fast-tier answer shows; the rest is detail.
    summary = "; ".join(f"{o} {plant} ({status})" for o, plant, status in orders)
    return f"Your orders: {summary}.\n" + "\n".join(
        f"- order {o}: {plant}, {status}" for o, plant, status in orders)
