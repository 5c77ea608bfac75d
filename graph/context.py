"""The graph's runtime context (``context_schema``); defined in ``switchyard.core.context`` because the
agents and tools read it too, and they sit below the graph."""

from switchyard.core.context import Context

__all__ = ["Context"]
