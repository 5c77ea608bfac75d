"""The shared core every layer may use: settings, the domain catalogue, the per-request context,
keyed pseudonyms, storage diagnostics, safe JSON, LangSmith annotations, quiet libraries."""
