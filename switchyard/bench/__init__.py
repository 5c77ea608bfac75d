"""``switchyard bench``: prove the savings of routing + caching against an all-expert baseline.

* :mod:`switchyard.bench.workload` - a deterministic workload from the held-out labelled split;
* :mod:`switchyard.bench.run` - the four configurations, run async in one process;
* :mod:`switchyard.bench.report` - the "measuring success" numbers, projections and red flags;
* :mod:`switchyard.bench.chart` - the PNG chart beside the report.
"""

# Caps on one bench run, far above any real use (the default is 200 requests at concurrency 200):
# the workload, and four configurations' per-request results, are held in memory (about 1 kB a
# request and configuration), and every request goes through the graph four times.
MAX_REQUESTS = 100_000
MAX_CONCURRENCY = 1_000
MAX_SEEDS = 100
