"""Conversation threads: where checkpoints live (SQLite embedded, PostgreSQL shared), one turn at
a time per thread, and retention (TTL and count pruning)."""
