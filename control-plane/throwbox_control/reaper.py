"""The reaper: finishes runs nobody will finish (never started by their start deadline, or
started and then lost) with a result the control plane writes itself. Every instance reaps;
a jitter keeps them from reaping the same run at once (readers keep the first Finished)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from throwbox_common.deadlines import START_GRACE_MS
from throwbox_common.messages import ErrorInfo

from .bus import KafkaUnavailable
from .capacity import CapacityWatch
from .runview import RunState, RunView

if TYPE_CHECKING:
    from .services import EventBus

log = logging.getLogger("throwbox.control")
REAP_GRACE_MS = START_GRACE_MS  # an unstarted run is failed this long after its start deadline
LOST_MARGIN_MS = 60_000        # a started run with no result this long past the max wall time is lost

FinishSynthetic = Callable[[RunState, str, ErrorInfo | None], Awaitable[None]]


class Reaper:
    def __init__(self, view: RunView, bus: EventBus, capacity: CapacityWatch, queue_timeout_ms: int,
                 max_wall_ms: int, clock: Callable[[], int], finish: FinishSynthetic):
        self._view, self._bus, self._capacity = view, bus, capacity
        self._queue_timeout_ms, self._max_wall_ms = queue_timeout_ms, max_wall_ms
        self._clock, self._finish = clock, finish
        self._reaped: set[str] = set()

    async def run(self) -> None:
        jitter_ms = random.randint(0, 3000)  # instances rarely reap the same run at once
        while True:
            await asyncio.sleep(1)
            if not self._bus.caught_up.is_set() or self._bus.producer is None:
                continue
            try:
                await self.reap_once(self._clock(), jitter_ms)
            except Exception:  # one bad pass must not end reaping for the life of the process
                log.exception("reaper pass failed")

    async def reap_once(self, now: int, jitter_ms: int) -> None:
        for st in list(self._view.unfinished.values()):
            if st.tenant is None or st.run_id in self._reaped or not st.created_ms:
                continue
            if st.started_ms is None:
                deadline = st.start_deadline_ms or st.created_ms + self._queue_timeout_ms
                if now < deadline + REAP_GRACE_MS + jitter_ms:
                    continue
                err = ErrorInfo("queue_timeout", self._queue_timeout_cause())
            else:
                if now < st.started_ms + self._max_wall_ms + LOST_MARGIN_MS + jitter_ms:
                    continue
                err = ErrorInfo("executor_lost", "the executor running this run stopped reporting")
            self._reaped.add(st.run_id)
            try:
                await self._finish(st, "failed", err)
                log.warning("run reaped", extra={"run_id": st.run_id, "reason": err.code})
            except KafkaUnavailable:
                self._reaped.discard(st.run_id)
        if len(self._reaped) > 100_000:
            self._reaped = {r for r in self._reaped if r in self._view.unfinished}

    def _queue_timeout_cause(self) -> str:
        if self._capacity.known and not self._capacity.agents:
            return "no executor agent was alive to start the run within the queue timeout"
        return "no sandbox became free within the queue timeout"
