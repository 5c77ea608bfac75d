"""``switchyard bench``: prove the savings of routing + caching against an all-expert baseline.

* :mod:`switchyard.bench.workload` - a deterministic workload from the held-out labelled split;
* :mod:`switchyard.bench.run` - the four configurations, run async in one process;
* :mod:`switchyard.bench.report` - the "measuring success" numbers, projections and red flags;
* :mod:`switchyard.bench.chart` - the PNG chart beside the report.
"""
