"""Which partition an answer belongs in: the user's own, or the shared public one.

Conservative by design: anything that may depend on who asks (first person possessives, "was I
charged", account intents) is personal. A wrong "personal" only costs hit rate; a wrong "public"
leaks one customer's answer to another, the failure the field keeps reporting.
"""

from __future__ import annotations

import re

# Intent name fragments whose answers come from the user's account, never from the docs alone.
PERSONAL_INTENT_FRAGMENTS = (
    "account",
    "balance",
    "my_",
    "usage",
    "subscription_status",
    "invoice_lookup",
    "billing_status",
    "payment_status",
    "password",
    "login",
    "lockout",
    "profile",
    "personal",
)

_FIRST_PERSON = re.compile(
    r"\b(?:my|mine|our|ours|me|us|myself|ourselves)\b"
    r"|\b(?:i'm|i've|we're|we've|i'd|we'd)\b"
    r"|\b(?:was|am|were|have|did|had) (?:i|we)\b"
    r"|\b(?:i|we) (?:was|am|were|are|have|had|got|did|paid|lost|forgot|see|saw|cannot|can't|cant|"
    r"didn't|didnt|keep|still|just)\b",
    re.IGNORECASE,
)


def is_personal(intent: str | None, text: str) -> bool:
    """Default scope decision for the graph: True means cache only in the user's partition."""
    name = (intent or "").casefold()
    if any(frag in name for frag in PERSONAL_INTENT_FRAGMENTS):
        return True
    return bool(_FIRST_PERSON.search(text))
