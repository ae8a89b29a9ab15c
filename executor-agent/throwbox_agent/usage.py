"""The run's host cgroup, sampled: its usage is read every SAMPLE_S while the program runs
(the cgroup may vanish right after the exit, so the last sample is what the result reports)."""

from __future__ import annotations

import asyncio

from . import cgroups

SAMPLE_S = 0.1


class UsageSampler:
    def __init__(self) -> None:
        self.paths: cgroups.CgroupPaths | None = None    # found once the sandbox is ready
        self.last: cgroups.CgroupUsage | None = None

    def snapshot(self) -> cgroups.CgroupUsage | None:
        """Read the usage now: the reading, None if there was none (the last sample stays)."""
        usage = cgroups.read_usage(self.paths) if self.paths is not None else None
        if usage is not None:
            self.last = usage
        return usage

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_S)
            self.snapshot()
