"""Larkspur's two tools: one public, one that reads the signed-in customer's own data.

A pack tool is a plain LangChain tool. The user is never an argument the model fills: it is
the signed-in user in LangGraph's runtime context (``runtime.context.user_id``), which the graph
injects and hides from the model. Type it ``ToolRuntime[Context]`` (switchyard's context): a
bare ``ToolRuntime`` expects no context, and pydantic warns on every call that gets one. Return a
string; start it with ``ERROR:`` to refuse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime

from switchyard.core.context import Context

BOOKINGS = Path(__file__).with_name("bookings.json")


def _user_id(runtime: Any) -> str | None:
    ctx = getattr(runtime, "context", None)
    uid = ctx.get("user_id") if isinstance(ctx, dict) else getattr(ctx, "user_id", None)
    return uid if isinstance(uid, str) and uid.strip() else None


@tool
def service_status() -> str:
    """Show whether Larkspur's booking pages, payments and reminder emails are working now."""
    return ("All Larkspur services are operating normally.\n"
            "booking_pages: operational\npayments: operational\nreminder_emails: operational")


@tool
def my_bookings(runtime: ToolRuntime[Context]) -> str:
    """List the signed-in customer's upcoming bookings (class, studio, date and time)."""
    user = _user_id(runtime)
    if user is None:
        return "ERROR: nobody is signed in; sign in to see your bookings."
    rows = json.loads(BOOKINGS.read_text(encoding="utf-8")).get(user, [])
    if not rows:
        return "You have no upcoming bookings."
    # The first line is what a fast-tier answer shows (a fixed action's summary); the rest is
    # detail for the standard and expert tiers.
    summary = "; ".join(f"{r['class']} at {r['studio']} on {r['when']}" for r in rows)
    lines = [f"- {r['class']} at {r['studio']} on {r['when']}" for r in rows]
    return f"Your upcoming bookings: {summary}.\n" + "\n".join(lines)
