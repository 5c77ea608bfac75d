"""What a running deployment shows its operator: Prometheus metrics, the savings page's figures
and one JSON log line per request, all built from the requests' own routing records."""

from switchyard.observability.metrics import SwitchyardMetrics
from switchyard.observability.request_log import log_line, shared_request

__all__ = ["SwitchyardMetrics", "log_line", "shared_request"]
