"""The runs group's offsets, committed by hand: a record is done once its run's result is
acknowledged (or it needed no run), and one commit at a time covers every record done since
the last one."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from throwbox_common.consuming import commit_done
from throwbox_common.offsets import OffsetTracker

from .run import RunLifecycle

log = logging.getLogger(__name__)

COMMIT_TIMEOUT_S = 10


class OffsetCommits:
    def __init__(self) -> None:
        self.offsets = OffsetTracker()
        self.consumer: AIOKafkaConsumer | None = None    # the runs consumer while the agent is in the group
        self._wanted = asyncio.Event()

    def begin(self, tp: TopicPartition, offset: int) -> None:
        self.offsets.begin(tp, offset)

    async def done(self, tp: TopicPartition, offset: int) -> None:
        self.offsets.done(tp, offset)
        self._wanted.set()

    async def done_with_result(self, tp: TopicPartition, offset: int, lc: RunLifecycle) -> None:
        """A redelivered record of a run held here: done once that run's result is acknowledged
        (without a result it stays uncommitted, like the run's own record)."""
        await lc.done.wait()
        if lc.result_published:
            await self.done(tp, offset)

    async def loop(self) -> None:
        """One commit in flight at a time, covering every run finished since the last one.

        A commit per record (thousands when skipping old runs) outlived the group session and
        cost the agent its partitions."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await asyncio.wait_for(self.commit_all(), COMMIT_TIMEOUT_S)
            except (KafkaError, TimeoutError) as e:
                log.warning("commit: %s (finished runs may be redelivered; they have results)", e)

    async def commit_all(self, tps=None) -> None:
        if self.consumer is None:
            return
        # Revoked partitions are committed while they are being taken away (still ours to commit).
        await commit_done(self.consumer, self.offsets, tps if tps is not None else self.consumer.assignment())

    def forget(self, tps) -> None:
        self.offsets.forget(tps)
