"""Per-path request counters. scripts/mock_coordinator.py imports them, so that script only runs
where the node's package is installed."""

from collections import Counter as _Tally


class Counter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.values: _Tally[str] = _Tally()

    def inc(self, path: str) -> int:
        self.values[path] += 1
        return self.values[path]
