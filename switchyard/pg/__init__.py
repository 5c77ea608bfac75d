"""PostgreSQL + pgvector, the engine replicas share: connection pools (``pool``), the numbered
schema migrations (``schema``) and LISTEN/NOTIFY wake-ups (``notify``).

What lives in it belongs to its concern: the shared cache and its single-flight in
``switchyard.cache``, rate limits and concurrency caps in ``switchyard.llm``, conversation threads
in ``switchyard.threads``. Needs the ``postgres`` extra (``pip install -e ".[postgres]"``).
"""
