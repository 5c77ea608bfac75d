"""switchyard's routed graph.

    START -> intake -> classify -> cache_lookup --hit--> respond -> END
                                       | miss (route on the classification)
                        +--------------+---------------+
                        v              v               v
                      fast          standard         expert      (compiled subgraphs, agents/)
                        +--------------+---------------+
                                       v
                                  cache_store -> respond -> END

``builder`` is exported so services compile with their own checkpointer; ``graph`` is compiled
without one (``langgraph dev`` and LangGraph Platform add persistence themselves).
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy
from switchyard.agents.expert import expert_agent
from switchyard.agents.fast import fast_agent
from switchyard.agents.standard import standard_agent
from switchyard.graph.context import Context
from switchyard.graph.nodes import cache_lookup, cache_store, classify, intake, respond
from switchyard.graph.state import InputState, State

# Transient provider errors are retried per agent; bad input never reaches an agent.
AGENT_RETRY = RetryPolicy(max_attempts=2, initial_interval=0.5)

builder = StateGraph(State, context_schema=Context, input_schema=InputState)
builder.add_node("intake", intake)
builder.add_node("classify", classify)
builder.add_node("cache_lookup", cache_lookup)
builder.add_node("fast", fast_agent, retry_policy=AGENT_RETRY)
builder.add_node("standard", standard_agent, retry_policy=AGENT_RETRY)
builder.add_node("expert", expert_agent, retry_policy=AGENT_RETRY)
builder.add_node("cache_store", cache_store)
builder.add_node("respond", respond)

builder.add_edge(START, "intake")
# intake -> classify | respond and cache_lookup -> respond | fast | standard | expert are
# Command(goto=...) edges declared by the nodes' return types.
builder.add_edge("classify", "cache_lookup")
for tier in ("fast", "standard", "expert"):
    builder.add_edge(tier, "cache_store")
builder.add_edge("cache_store", "respond")
builder.add_edge("respond", END)

graph = builder.compile(name="switchyard")
