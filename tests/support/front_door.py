"""Tests build what they need through the front door (``switchyard.app.Switchyard``), with fakes.

``variant(sy, ...)`` is a switchyard that shares the session's heavy parts (encoder, knowledge
index, customer database, classifier) with some parts replaced; ``ask`` returns the routing record
as a plain dict, the way the CLI's ``--json`` prints it.
"""

from __future__ import annotations

from typing import Any

from switchyard.app import Switchyard
from switchyard.core.settings import Settings


def variant(sy: Switchyard, settings: Settings | None = None, **parts: Any) -> Switchyard:
    models = parts.get("models")
    if models is not None and getattr(models, "similarity", True) is None:
        # Fake model factories keep the offline model's tool choice as in production.
        models.similarity = sy.models.similarity
    shared = {"database": sy.database, "encoder": sy.encoder, "retriever": sy.retriever,
              "classifier": sy.classifier, "models": sy.models, "cache": sy.cache}
    return Switchyard(settings or sy.settings, **{**shared, **parts})


async def ask(sy: Switchyard, text: str, **kwargs: Any) -> dict[str, Any]:
    return (await sy.aask(text, **kwargs)).model_dump()
