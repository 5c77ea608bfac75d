"""The graph's runtime context (``context_schema``); defined in ``switchyard.context`` because the
agents and tools read it too, and they sit below the graph."""

from switchyard.context import Context

__all__ = ["Context"]
