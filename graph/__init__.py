"""The routed graph: intake -> classify -> cache_lookup -> fast|standard|expert -> cache_store -> respond.

``build_graph(deps)`` returns the builder for one set of dependencies; the front door
(``switchyard.Switchyard``) builds those once and compiles it. ``langgraph dev`` loads the compiled
graph from ``switchyard/studio.py``.
"""

from switchyard.graph.graph import build_graph

__all__ = ["build_graph"]
