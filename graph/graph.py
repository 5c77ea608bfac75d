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
classifier, cache, retriever, customer database, model factory); services compile it with their
own checkpointer. ``builder`` and ``graph`` are built from the default settings, with dependencies
loaded on the first request, off the event loop (what ``langgraph.json`` points at: ``langgraph
dev`` and LangGraph Platform add persistence themselves).
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from switchyard.context import Context
from switchyard.deps import Dependencies
from switchyard.domain import TIERS
from switchyard.graph.dependencies import LazyDependencies
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


builder = build_graph(LazyDependencies())
graph = builder.compile(name="switchyard")
