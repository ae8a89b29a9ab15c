"""Warm pools that follow demand (pure decisions; the agent applies them to its WarmPool).

Each runtime keeps its floor (runtimes.toml `warm`, or THROWBOX_AGENT_POOL_SIZES) at all
times. On top of the floors the agent has a budget of burst sandboxes (THROWBOX_AGENT_POOL_BURST)
that go to the runtimes whose recent arrivals need more than their floor: a runtime receiving
`rate` runs/s needs about `rate x replace_s` warm sandboxes so that no run waits for a cold
one while used ones are replaced (Little's law). When the arrivals stop, the runtime shrinks
back to its floor. A runtime whose floor is 0 (runtimes.toml `warm = 0`) keeps at least one
while runs of it wait (taken from Kafka, not finished starting), burst budget or not.
"""

from __future__ import annotations

import math
from collections import deque


class ArrivalMeter:
    """Runs taken per runtime over the last `window_s` seconds."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self._seen: dict[str, deque[float]] = {}

    def note(self, key: str, now: float) -> None:
        self._seen.setdefault(key, deque()).append(now)

    def rates_per_s(self, now: float) -> dict[str, float]:
        out = {}
        for key, times in self._seen.items():
            while times and times[0] <= now - self.window_s:
                times.popleft()
            out[key] = len(times) / self.window_s
        return out


def target_sizes(floors: dict[str, int], rates_per_s: dict[str, float], replace_s: float,
                 burst: int, waiting: dict[str, int] | None = None) -> dict[str, int]:
    """Floors plus the burst budget, shared in proportion to what each runtime lacks (largest
    remainder; never more than it lacks); at least 1 for a runtime with runs `waiting`."""
    waiting = waiting or {}
    lack = {k: max(0, math.ceil(rates_per_s.get(k, 0.0) * replace_s) - floor) for k, floor in floors.items()}
    total = sum(lack.values())
    if total <= burst:
        extra = dict(lack)
    else:
        shares = {k: burst * v / total for k, v in lack.items()}
        extra = {k: math.floor(s) for k, s in shares.items()}
        left = burst - sum(extra.values())
        for k in sorted(shares, key=lambda k: (extra[k] - shares[k], k))[:left]:
            extra[k] += 1
    return {k: max(floors[k] + extra[k], 1 if waiting.get(k, 0) > 0 else 0) for k in floors}
