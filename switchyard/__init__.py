"""switchyard: route each LLM agent request to the cheapest agent that can handle it.

``from switchyard import Switchyard`` is the front door (``switchyard.app``); importing the package
itself stays light, so ``switchyard --help`` does not load models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from switchyard.app import Switchyard
    from switchyard.record import RoutingRecord

__all__ = ["RoutingRecord", "Switchyard"]


def __getattr__(name: str) -> Any:
    if name == "Switchyard":
        from switchyard.app import Switchyard

        return Switchyard
    if name == "RoutingRecord":
        from switchyard.record import RoutingRecord

        return RoutingRecord
    raise AttributeError(f"module 'switchyard' has no attribute {name!r}")
