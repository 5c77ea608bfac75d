"""The routed graph: intake -> classify -> cache_lookup -> fast|standard|expert -> cache_store -> respond.

``from switchyard.graph import build_graph, builder, graph``: ``build_graph(deps)`` for your own
dependencies, or ``builder``/``graph`` for the default settings (dependencies built on first use).
"""

from switchyard.graph.graph import build_graph, builder, graph

__all__ = ["build_graph", "builder", "graph"]
