"""The service's checkpoints rebuild only the graph state's own types (plus LangGraph's safe list).

A checkpoint row is data from storage; rebuilding any type it names means importing and calling
that type. The state's types round-trip silently; anything else is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from langchain_core.messages import AIMessage, HumanMessage

from switchyard.classifier.schema import Classification
from switchyard.core.domain import Tier
from switchyard.threads.store import checkpoint_serde


@dataclass
class NotInTheState:
    command: str


def _classification() -> Classification:
    return Classification(complexity="low", recommended_agent="fast", confidence=0.9,
                          intent="password_reset", scores={"low": 0.9, "medium": 0.1})


def test_state_types_round_trip_without_warnings(caplog) -> None:
    serde = checkpoint_serde()
    state = {"classification": _classification(), "route": Tier.FAST,
             "messages": [HumanMessage("hi"), AIMessage("hello")]}
    with caplog.at_level(logging.WARNING):
        back = serde.loads_typed(serde.dumps_typed(state))
    assert isinstance(back["classification"], Classification)
    assert back["classification"] == state["classification"]
    assert back["route"] is Tier.FAST
    assert [type(m) for m in back["messages"]] == [HumanMessage, AIMessage]
    assert not [r for r in caplog.records if "unregistered type" in r.getMessage()]


def test_a_foreign_type_in_a_checkpoint_is_not_rebuilt() -> None:
    serde = checkpoint_serde()
    blob = serde.dumps_typed({"x": NotInTheState("rm -rf /")})
    back = serde.loads_typed(blob)
    assert not isinstance(back["x"], NotInTheState)
