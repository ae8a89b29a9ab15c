"""Read a whole topic without a group: from the beginning (or a time) until caught up, then follow.

Both the agent (its ledger of started and finished runs) and the control plane (the run view)
rebuild their state from throwbox.events this way. The reader is assigned every partition, reads
up to the end offsets it saw when it connected ("caught up", an Event), then keeps following.
Each record is decoded and handed to `handle`; a record that does not decode, or that the
handler fails on, is logged and skipped: one bad record never stops the reader.

The caller builds the consumer (`make_consumer`, so each side keeps its own fetch settings) and
decides what a failure means: `close()` then `connect()` again continues after the last record
handled, so nothing is applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec
from aiokafka.structs import TopicPartition

log = logging.getLogger("throwbox.event_log")

T = TypeVar("T")


class TopicMissing(LookupError):
    pass


async def topic_partitions(consumer: Any, topic: str, attempts: int | None = 100,
                           interval_s: float = 0.1) -> list[TopicPartition]:
    """Every partition of `topic`, refreshing metadata until it exists (forever when attempts is None)."""
    tried = 0
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        tried += 1
        if attempts is not None and tried > attempts:
            raise TopicMissing(f"topic {topic} does not exist")
        if attempts is None:
            log.warning("topic %s not found yet; waiting", topic)
        consumer._client.add_topic(topic)            # noqa: SLF001 - aiokafka has no public metadata refresh
        await consumer._client.force_metadata_update()  # noqa: SLF001
        await asyncio.sleep(interval_s)


class EventLogReader(Generic[T]):
    def __init__(self, make_consumer: Callable[[], Any], topic: str, decode: Callable[[bytes], T],
                 handle: Callable[[T], None], *, poll_timeout_ms: int, catch_up_poll_timeout_ms: int | None = None,
                 max_records: int = 5000, history_ms: int | None = None,
                 topic_attempts: int | None = 100, topic_interval_s: float = 0.1,
                 on_caught_up: Callable[[], None] | None = None,
                 clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)):
        self._make_consumer = make_consumer
        self.topic = topic
        self._decode = decode
        self._handle = handle
        self._poll_timeout_ms = poll_timeout_ms
        self._catch_up_poll_timeout_ms = catch_up_poll_timeout_ms or poll_timeout_ms
        self._max_records = max_records
        self.history_ms = history_ms
        self._topic_attempts = topic_attempts
        self._topic_interval_s = topic_interval_s
        self._clock_ms = clock_ms
        self._on_caught_up = on_caught_up
        self.reading = False   # connected and the end offsets known: the reader works
        self.consumer: Any = None
        self.partitions: list[TopicPartition] = []
        self.caught_up = asyncio.Event()
        self.next_offsets: dict[TopicPartition, int] = {}   # the next record to handle, per partition

    async def connect(self) -> None:
        consumer = self._make_consumer()
        await consumer.start()
        self.consumer = consumer
        self.partitions = await topic_partitions(consumer, self.topic, self._topic_attempts, self._topic_interval_s)
        consumer.assign(self.partitions)
        await consumer.seek_to_beginning(*self.partitions)
        if self.history_ms and not self.next_offsets:
            # Start at the first record newer than the horizon (the beginning when the horizon
            # reaches past the topic's retention; the end when nothing is that new).
            since = self._clock_ms() - self.history_ms
            found = await consumer.offsets_for_times({tp: since for tp in self.partitions})
            for tp, at in found.items():
                if at is None:
                    await consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, at.offset)
        for tp, offset in self.next_offsets.items():   # after a reconnect: continue, never re-apply
            if tp in self.partitions:
                consumer.seek(tp, offset)

    async def close(self) -> None:
        consumer, self.consumer = self.consumer, None
        self.reading = False
        if consumer is not None:
            try:
                await consumer.stop()
            except Exception:
                log.warning("event log consumer stop failed", extra={"topic": self.topic}, exc_info=True)

    async def consume(self, until_caught_up: bool = False) -> None:
        """Read (marking caught up at the end offsets seen now); return once caught up if asked."""
        consumer = self.consumer
        assert consumer is not None, "connect() first"
        targets = await consumer.end_offsets(self.partitions)
        self.reading = True
        while True:
            if not self.caught_up.is_set() and await self._reached(targets):
                self.caught_up.set()
                if self._on_caught_up is not None:
                    self._on_caught_up()
            if until_caught_up and self.caught_up.is_set():
                return
            timeout_ms = self._poll_timeout_ms if self.caught_up.is_set() else self._catch_up_poll_timeout_ms
            batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=self._max_records)
            for tp, records in batches.items():
                for r in records:
                    self.next_offsets[tp] = r.offset + 1
                    self._apply(r)

    async def _reached(self, targets: dict[TopicPartition, int]) -> bool:
        for tp in self.partitions:
            if await self.consumer.position(tp) < targets[tp]:
                return False
        return True

    def _apply(self, r: Any) -> None:
        try:
            rec = self._decode(r.value)
        except (msgspec.DecodeError, TypeError):
            log.warning("unreadable record skipped", extra={"topic": self.topic, "partition": r.partition,
                                                            "offset": r.offset})
            return
        try:
            self._handle(rec)
        except Exception:
            log.exception("handling a record failed", extra={"topic": self.topic, "partition": r.partition,
                                                             "offset": r.offset})

    async def lag(self) -> int:
        """Records written but not read yet (0 when unknown)."""
        consumer = self.consumer
        if consumer is None:
            return 0
        total = 0
        for tp in self.partitions:
            hw = consumer.highwater(tp)
            if hw is None:
                continue
            try:
                pos = await consumer.position(tp)
            except Exception:
                continue
            total += max(0, hw - pos)
        return total

    async def sync(self, timeout_s: float = 2.0, poll_s: float = 0.005) -> None:
        """Wait (at most timeout_s, best effort) until everything written so far has been read."""
        consumer = self.consumer
        if consumer is None:
            return
        try:
            ends = await asyncio.wait_for(consumer.end_offsets(self.partitions), timeout_s)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_s
            while loop.time() < deadline:
                if all([await consumer.position(tp) >= ends[tp] for tp in self.partitions]):
                    return
                await asyncio.sleep(poll_s)
        except Exception:   # KafkaError, TimeoutError, or a consumer closed meanwhile: best effort
            return
