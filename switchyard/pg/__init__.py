"""Shared state on PostgreSQL + pgvector, so many replicas act as one: semantic cache,
single-flight leases, rate limits / concurrency caps and conversation threads.

Everything here takes its settings and connection pool as explicit constructor arguments (no
process singletons), so the service's dependency object can build and hand them out.
Needs the ``postgres`` extra (``pip install -e ".[postgres]"``).
"""
