"""The routed graph: intake -> classify -> cache_lookup -> fast|standard|expert -> cache_store -> respond."""
