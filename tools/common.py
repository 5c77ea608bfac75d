"""Shared plumbing for the support tools: argument base schema, error strings, result format.

Every tool answers with a compact string: a one-sentence summary first (quotable by the agent),
then ``key: value`` lines. Refusals and bad arguments come back as ``ERROR: <message>`` strings
(``ToolMessage.status == "error"``) rather than exceptions, so the agent can relay them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from langchain_core.tools import BaseTool, ToolException
from langgraph.prebuilt import InjectedState
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

# The hidden argument through which the graph's tool node hands every call the deployment's
# customer database (``switchyard.tools.database.CustomerDatabase``): the node puts it in the
# state the tool call sees, and LangGraph injects it from there. The model never sees the
# argument, and LangGraph drops whatever a model sends under this name.
ACCOUNTS_ARG = "accounts"
# Arguments injected by the graph, never reported back to the model in error messages.
_INJECTED = {"runtime", ACCOUNTS_ARG}

# Argument names a model might use to point a tool at someone else's account. Tools never take
# them: scope always comes from the signed-in user in the runtime context.
_SCOPE_KEYS = {
    "org", "org_id", "organization", "organization_id", "org_name", "account", "account_id",
    "customer", "customer_id", "company", "company_id", "tenant", "tenant_id", "workspace",
    "workspace_id", "user", "user_id", "userid", "username", "as_user", "on_behalf_of",
}
SCOPE_REFUSAL = (
    "tools act only on the signed-in user's own organization; another organization, "
    "account or user cannot be selected"
)


class ToolError(ToolException):
    """A refusal or a bad request; rendered to the model as ``ERROR: <message>``."""


class ToolArgs(BaseModel):
    """Base argument schema. Unknown arguments are ignored (the injected ``runtime`` arrives
    here too), except ones that try to choose whose data to act on: those are refused."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    accounts: Annotated[Any, InjectedState(ACCOUNTS_ARG)] = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_scope_arguments(cls, data: Any) -> Any:
        if isinstance(data, dict):
            named = [k for k in data if isinstance(k, str) and k.lower() in _SCOPE_KEYS
                     and k not in cls.model_fields]
            if named:
                raise ValueError(f"{SCOPE_REFUSAL} (argument `{named[0]}` is not accepted)")
        return data


def format_validation_error(exc: ValidationError | Exception) -> str:
    """Pydantic errors as one clear line, naming the argument; never echoes injected objects."""
    if not isinstance(exc, ValidationError):
        return f"ERROR: invalid arguments: {exc}"
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [str(p) for p in err.get("loc", ()) if p not in _INJECTED]
        if err.get("loc") and err["loc"][0] in _INJECTED:
            continue
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if SCOPE_REFUSAL in msg:
            return f"ERROR: {msg}."
        parts.append(f"`{'.'.join(loc)}`: {msg}" if loc else msg)
    return "ERROR: invalid argument " + "; ".join(parts or ["(unreadable arguments)"]) + "."


def format_tool_error(exc: ToolException) -> str:
    text = str(exc)
    return text if text.startswith("ERROR:") else f"ERROR: {text}"


def support_tool(args_schema: type[BaseModel]) -> Callable[[Callable[..., str]], BaseTool]:
    """``@tool`` with our schema and error conventions applied."""
    from langchain_core.tools import tool

    def wrap(fn: Callable[..., str]) -> BaseTool:
        t = tool(args_schema=args_schema)(fn)
        t.handle_validation_error = format_validation_error
        t.handle_tool_error = format_tool_error
        return t

    return wrap


def render(summary: str, fields: Iterable[tuple[str, Any]] = (), rows: Iterable[str] = ()) -> str:
    """Summary line, then ``key: value`` lines (None values skipped), then ``- row`` lines."""
    out = [summary]
    out += [f"{k}: {v}" for k, v in fields if v is not None]
    out += [f"- {r}" for r in rows]
    return "\n".join(out)


def money(x: float) -> str:
    sign = "-" if x < 0 else ""
    return f"{sign}${abs(x):,.2f}"


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def utcnow() -> datetime:
    """The real clock for security events (naive UTC; tests patch ``tools.common.utcnow``)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def hhmm(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC")
