"""Per-request runtime context (``context_schema``): who is asking, for which tenant, and overrides.

Studio renders these fields as a form; services pass them as ``graph.ainvoke(..., context=Context(...))``.
Under the HTTP service and LangGraph Platform with auth, the user comes from the verified token,
never from client-supplied context. A call without a user never acts as anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(kw_only=True)
class Context:
    user_id: str | None = field(
        default=None,
        metadata={"description": "Signed-in end user (customer database id, e.g. 'u-0001'). "
                  "Tools act only on this user's organization; answers built from account "
                  "data are cached only for this user. None: nobody is signed in."},
    )
    tenant: str = field(
        default="default",
        metadata={"description": "Deployment tenant; a hard cache partition."},
    )
    fast_model: str | None = field(
        default=None, metadata={"description": "Override the fast tier's model name for this request."}
    )
    standard_model: str | None = field(
        default=None, metadata={"description": "Override the standard tier's model name for this request."}
    )
    expert_model: str | None = field(
        default=None, metadata={"description": "Override the expert tier's model name for this request."}
    )
    force_tier: str | None = field(
        default=None,
        metadata={"description": "Skip the router and send the request to this tier "
                  "('fast', 'standard' or 'expert'); used by benchmarks' baseline/oracle runs."},
    )
    use_cache: bool = field(
        default=True, metadata={"description": "Look up and store answers in the semantic cache."}
    )

    def model_override(self, tier: str) -> str | None:
        return {"fast": self.fast_model, "standard": self.standard_model,
                "expert": self.expert_model}.get(tier)
