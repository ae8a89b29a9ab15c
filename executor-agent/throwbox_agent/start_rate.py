"""How many runs this agent starts per second when it has more runs than sandboxes.

Admission (the control plane's queue bound) needs the rate at which waiting runs get started,
which is only observable while runs are waiting: an idle agent starts runs as slowly as they
arrive. So the meter samples whole seconds in which the agent had a backlog (a run taken but not
started, or a run held back by the lookahead) and averages those seconds' start counts
(exponentially weighted); seconds without a backlog leave the estimate as it was. Until the
first backlog the configured prior stands.
"""

from __future__ import annotations


class StartRateMeter:
    def __init__(self, prior_per_s: float, weight: float = 0.15, sample_s: float = 1.0):
        self.rate_per_s = prior_per_s
        self.weight = weight
        self.sample_s = sample_s
        self.samples = 0
        self._window_start: float | None = None
        self._starts = 0
        self._backlogged_throughout = True

    def observe(self, now: float, backlogged: bool) -> None:
        """Called often (a timer, and every start): closes a sample window once it is
        `sample_s` old. A window counts only if the agent had a backlog throughout it (as far as
        the calls saw) and it was observed in time (a window much longer than `sample_s` means the
        loop was stalled, and its count says nothing about the rate)."""
        if self._window_start is None:
            self._window_start = now
        elapsed = now - self._window_start
        if elapsed >= self.sample_s:
            if elapsed < 2 * self.sample_s and self._backlogged_throughout and backlogged:
                self._sample(self._starts / elapsed)
            self._window_start = now
            self._starts = 0
            self._backlogged_throughout = True
        if not backlogged:
            self._backlogged_throughout = False

    def started(self, now: float) -> None:
        self.observe(now, True)
        self._starts += 1

    def _sample(self, per_s: float) -> None:
        self.samples += 1
        # The first samples replace the prior quickly; later ones move it by `weight`.
        w = max(self.weight, 1 / self.samples) if self.samples <= 3 else self.weight
        self.rate_per_s += w * (per_s - self.rate_per_s)
