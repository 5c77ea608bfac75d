"""The sentence encoder (all-MiniLM-L6-v2, 384 dims): one embedding per request, shared by the
classifier, the cache and retrieval."""
