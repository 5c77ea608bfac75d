"""Quillstack's tools: account, billing, error-log, analytics, pricing and migration lookups over
switchyard's customer database, scoped to the signed-in user (the manifest names each one)."""
