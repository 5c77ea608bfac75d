"""switchyard's routed graph.

    START -> intake -> classify -> cache_lookup --hit--> respond -> END
                                       | miss (route on the classification)
                        +--------------+---------------+
                        v              v               v
                      fast   <-->   standard  <-->   expert      (agents/, with fallback between
                        +--------------+---------------+          tiers when a provider fails)
                                       v
                                  cache_store -> respond -> END

``build_graph(deps)`` returns the builder for one set of dependencies (settings, embedder,
classifier, cache, retriever, customer database, model factory); the front door
(``switchyard.app.Switchyard``) builds them once and compiles the graph, with its checkpointer when
it keeps threads. ``langgraph.json`` points at ``switchyard/studio.py``, which opens the front door
for ``langgraph dev`` and LangGraph Platform (they add persistence themselves).
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from switchyard.core.context import Context
from switchyard.core.domain import TIERS
from switchyard.deps import Dependencies, LazyDependencies
from switchyard.graph.nodes import RouterNodes
from switchyard.graph.state import InputState, State


def build_graph(deps: Dependencies | LazyDependencies) -> StateGraph:
    """The routed graph's builder for these dependencies (compile it with your checkpointer)."""
    # With lazy dependencies, the agents are compiled on the first request, after them.
    nodes = RouterNodes(deps)

    builder = StateGraph(State, context_schema=Context, input_schema=InputState)
    builder.add_node("intake", nodes.intake)
    builder.add_node("classify", nodes.classify)
    builder.add_node("cache_lookup", nodes.cache_lookup)
    for tier in TIERS:
        builder.add_node(tier.value, nodes.tier_node(tier))
    builder.add_node("cache_store", nodes.cache_store)
    builder.add_node("respond", nodes.respond)

    builder.add_edge(START, "intake")
    # intake -> classify | respond, cache_lookup -> respond | tier, and tier -> another tier |
    # cache_store are Command(goto=...) edges declared by the nodes' return types.
    builder.add_edge("classify", "cache_lookup")
    builder.add_edge("cache_store", "respond")
    builder.add_edge("respond", END)
    return builder
