"""How the CLI shows values a person reads: timestamps, durations."""

from __future__ import annotations

from datetime import UTC, datetime


def timestamp(value: float | None) -> str:
    """Epoch seconds as a UTC time, or ``-`` when there is none."""
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
