"""The runs in flight on this agent: each run's lifecycle and the partition its record came
from, from the moment it is taken until its offset may be committed; and waiting for them to
end when the agent drains."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka.structs import TopicPartition

from .metrics import AgentMetrics
from .outcome import KillReason
from .publish import RESULT_RETRY_S
from .run import RunLifecycle, RunState

log = logging.getLogger(__name__)

CANCELLED_END_S = 10                 # runs killed past the drain timeout get this long to end


class InFlight:
    def __init__(self, metrics: AgentMetrics):
        self.metrics = metrics
        self.active: dict[str, RunLifecycle] = {}
        self.partitions: dict[str, tuple[TopicPartition, RunLifecycle]] = {}
        self.slot_freed = asyncio.Event()

    def __len__(self) -> int:
        return len(self.active)

    def add(self, tp: TopicPartition, lc: RunLifecycle) -> None:
        self.active[lc.job.run_id] = lc
        self.partitions[lc.job.run_id] = (tp, lc)
        self.metrics.in_flight.set(len(self.active))

    def remove(self, run_id: str) -> bool:
        """The run's lifecycle ended; True if it held a slot (its slot is free now)."""
        self.partitions.pop(run_id, None)
        if run_id not in self.active:
            return False
        self.active.pop(run_id, None)
        self.metrics.in_flight.set(len(self.active))
        self.slot_freed.set()
        return True

    def abandon_unstarted(self, revoked: Callable[[TopicPartition], bool]) -> list[RunLifecycle]:
        """Give up the runs of these partitions that have not started (their new owner runs them)."""
        return [lc for tp, lc in list(self.partitions.values()) if revoked(tp) and lc.abandon()]

    def wanting_sandbox(self) -> dict[str, int]:
        """Runtime key → runs that wait for or hold a sandbox."""
        counts: dict[str, int] = {}
        for lc in self.active.values():
            if lc.wants_sandbox:
                counts[lc.runtime.key] = counts.get(lc.runtime.key, 0) + 1
        return counts

    def waiting_to_start(self, runtime_key: str) -> bool:
        return any(lc.runtime.key == runtime_key and lc.state in (RunState.QUEUED, RunState.ACQUIRING)
                   for lc in self.active.values())

    async def drain(self, drain_timeout_s: float) -> None:
        """Let the runs finish within the drain timeout, end the rest as cancelled, then wait for
        the results Kafka has not acknowledged yet."""
        if self.active:
            log.info("draining: waiting for %d running run(s)", len(self.active))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_done(), drain_timeout_s)
        for lc in list(self.active.values()):
            lc.kill(KillReason.CANCEL)   # past the drain timeout: end them as cancelled
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_done(), CANCELLED_END_S)
        if any(lc.state is RunState.FINISHING for lc in self.active.values()):
            # Results still being sent while Kafka is away: exiting now would lose them. Each
            # gives up by itself after RESULT_RETRY_S (Nomad's kill_timeout may end us first).
            log.info("draining: waiting for %d result(s) Kafka has not acknowledged yet", len(self.active))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._results_sent(), RESULT_RETRY_S + 10)

    async def _all_done(self) -> None:
        while self.active:
            self.slot_freed.clear()
            await self.slot_freed.wait()

    async def _results_sent(self) -> None:
        while any(lc.state is RunState.FINISHING for lc in self.active.values()):
            self.slot_freed.clear()
            await self.slot_freed.wait()
