"""Fetching from a Kafka consumer only while there is room for more work (the agent's runs, the
control plane's invocations): its partitions are paused while full, resumed when a slot frees.

    fetch = BoundedFetch(consumer, slot_freed)     # slot_freed: set whenever a piece of work ends
    while not stopping:
        batch = await fetch.next(max_in_flight - len(open_work), stop=stop_event)
        for tp, records in batch.items(): ...

Duck-typed on aiokafka's AIOKafkaConsumer (assignment, pause, resume, getmany, commit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka.structs import OffsetAndMetadata, TopicPartition

from .offsets import OffsetTracker


async def commit_done(consumer, tracker: OffsetTracker, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
    """Commit the points of `tps` that moved (work finished out of order, see offsets.py) and
    record them as committed; returns them. A KafkaError is the caller's to handle."""
    points = tracker.to_commit(set(tps))
    if points:
        await consumer.commit({tp: OffsetAndMetadata(p, "") for tp, p in points.items()})
        tracker.mark_committed(points)
    return points


class BoundedFetch:
    def __init__(self, consumer, slot_freed: asyncio.Event, full_wait_s: float = 0.5, fetch_wait_ms: int = 200):
        self.consumer = consumer
        self.slot_freed = slot_freed
        self.full_wait_s = full_wait_s
        self.fetch_wait_ms = fetch_wait_ms
        self.paused = False

    async def next(self, free: int, stop: asyncio.Event | None = None) -> dict:
        """Up to `free` records by partition (often none). With no room (free <= 0): the assigned
        partitions are paused, and after waiting up to full_wait_s for a slot (or `stop`) the
        consumer is polled without records, which keeps its group membership alive."""
        if free <= 0:
            # Every time: a rebalance may have assigned partitions that are not paused yet.
            self.consumer.pause(*self.consumer.assignment())
            self.paused = True
            self.slot_freed.clear()
            waiters = {asyncio.ensure_future(self.slot_freed.wait())}
            if stop is not None:
                waiters.add(asyncio.ensure_future(stop.wait()))
            try:
                await asyncio.wait(waiters, timeout=self.full_wait_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
            return await self.consumer.getmany(timeout_ms=0)
        if self.paused:
            self.consumer.resume(*self.consumer.assignment())
            self.paused = False
        return await self.consumer.getmany(timeout_ms=self.fetch_wait_ms, max_records=free)
