"""The three agent tiers, each a compiled LangGraph subgraph:

- ``fast``: small model, RAG only (help center + read-only account snapshot; fixed action steps).
- ``standard``: mid model, RAG + a tool-calling loop over the basic tools.
- ``expert``: large reasoning model, plan + RAG + all tools + reflection + synthesis.
"""
