"""throwbox_common.event_log.EventLogReader: catch up to the end seen at start, then follow."""

import asyncio
import logging
from types import SimpleNamespace

import msgspec
import pytest
from aiokafka.structs import TopicPartition

from throwbox_common.event_log import EventLogReader, TopicMissing

TOPIC = "events"
P0, P1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


class Rec(msgspec.Struct):
    n: int


enc = msgspec.json.Encoder()


class FakeLog:
    """The topic: records per partition, each with a timestamp (ms)."""

    def __init__(self, partitions=2):
        self.records = {TopicPartition(TOPIC, p): [] for p in range(partitions)}

    def write(self, tp, value, ts_ms=0):
        self.records[tp].append((value, ts_ms))


class FakeClient:
    def __init__(self, consumer):
        self.consumer = consumer

    def add_topic(self, topic):
        pass

    async def force_metadata_update(self):
        self.consumer.metadata_updates += 1


class FakeConsumer:
    def __init__(self, log_: FakeLog, topic_known=True):
        self.log = log_
        self.topic_known = topic_known
        self.metadata_updates = 0
        self._client = FakeClient(self)
        self.positions: dict[TopicPartition, int] = {}
        self.started = self.stopped = False

    async def start(self):
        self.started = True

    async def stop(self):
        self.stopped = True

    def partitions_for_topic(self, topic):
        return {tp.partition for tp in self.log.records} if self.topic_known and topic == TOPIC else None

    def assign(self, tps):
        self.positions = dict.fromkeys(tps, 0)

    async def seek_to_beginning(self, *tps):
        for tp in tps:
            self.positions[tp] = 0

    async def seek_to_end(self, *tps):
        for tp in tps:
            self.positions[tp] = len(self.log.records[tp])

    def seek(self, tp, offset):
        self.positions[tp] = offset

    async def offsets_for_times(self, times):
        found = {}
        for tp, since in times.items():
            at = next((i for i, (_, ts) in enumerate(self.log.records[tp]) if ts >= since), None)
            found[tp] = None if at is None else SimpleNamespace(offset=at, timestamp=since)
        return found

    async def end_offsets(self, tps):
        return {tp: len(self.log.records[tp]) for tp in tps}

    async def position(self, tp):
        return self.positions[tp]

    def highwater(self, tp):
        return len(self.log.records[tp])

    async def getmany(self, timeout_ms=0, max_records=None):
        out = {}
        for tp, at in self.positions.items():
            new = self.log.records[tp][at:at + (max_records or 10**9)]
            if new:
                out[tp] = [SimpleNamespace(value=v, offset=at + i, partition=tp.partition) for i, (v, _) in enumerate(new)]
                self.positions[tp] = at + len(new)
        if not out:
            await asyncio.sleep(0.001)
        return out


def reader_on(log_, handled, **kw):
    consumers = []

    def make():
        consumers.append(FakeConsumer(log_))
        return consumers[-1]

    reader = EventLogReader(make, TOPIC, msgspec.json.Decoder(Rec).decode, lambda r: handled.append(r.n),
                            poll_timeout_ms=10, **kw)
    return reader, consumers


async def wait_until(cond, timeout_s=2.0):
    for _ in range(int(timeout_s / 0.005)):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not met in time")


async def test_it_reads_every_partition_up_to_the_end_seen_at_start_and_says_it_is_caught_up():
    log_, handled = FakeLog(), []
    for n in range(3):
        log_.write(P0, enc.encode(Rec(n)))
    log_.write(P1, enc.encode(Rec(10)))
    reader, _ = reader_on(log_, handled)
    await reader.connect()
    await reader.consume(until_caught_up=True)
    assert reader.caught_up.is_set()
    assert sorted(handled) == [0, 1, 2, 10]
    assert reader.next_offsets == {P0: 3, P1: 1}


async def test_an_empty_topic_is_caught_up_at_once_and_the_callback_runs_once():
    calls = []
    reader, _ = reader_on(FakeLog(), [], on_caught_up=lambda: calls.append(1))
    await reader.connect()
    await reader.consume(until_caught_up=True)
    await reader.consume(until_caught_up=True)
    assert reader.caught_up.is_set() and calls == [1]


async def test_an_unreadable_record_or_a_failing_handler_is_skipped_and_logged_and_reading_goes_on(caplog):
    log_, handled = FakeLog(1), []
    for value in (b"not json", enc.encode(Rec(1)), enc.encode(Rec(-1)), enc.encode(Rec(2))):
        log_.write(P0, value)

    def handle(r):
        if r.n < 0:
            raise ValueError("bad")
        handled.append(r.n)

    reader = EventLogReader(lambda: FakeConsumer(log_), TOPIC, msgspec.json.Decoder(Rec).decode, handle,
                            poll_timeout_ms=10)
    with caplog.at_level(logging.WARNING, logger="throwbox.event_log"):
        await reader.connect()
        await reader.consume(until_caught_up=True)
    assert handled == [1, 2]
    messages = [r.getMessage() for r in caplog.records]
    assert "unreadable record skipped" in messages and "handling a record failed" in messages


async def test_after_catching_up_it_follows_records_written_later():
    log_, handled = FakeLog(), []
    log_.write(P0, enc.encode(Rec(1)))
    reader, _ = reader_on(log_, handled)
    await reader.connect()
    await reader.consume(until_caught_up=True)
    task = asyncio.create_task(reader.consume())
    try:
        log_.write(P1, enc.encode(Rec(2)))
        await wait_until(lambda: handled == [1, 2])
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_reconnect_continues_after_the_last_record_handled_and_applies_none_twice():
    log_, handled = FakeLog(), []
    log_.write(P0, enc.encode(Rec(1)))
    reader, consumers = reader_on(log_, handled, history_ms=60_000, clock_ms=lambda: 10**9)
    log_.records[P0][0] = (log_.records[P0][0][0], 10**9)   # inside the history horizon
    await reader.connect()
    await reader.consume(until_caught_up=True)
    await reader.close()
    assert consumers[0].stopped and reader.consumer is None and not reader.reading
    log_.write(P0, enc.encode(Rec(2)), ts_ms=10**9)
    await reader.connect()
    assert len(consumers) == 2 and consumers[1].positions == {P0: 1, P1: 0}
    task = asyncio.create_task(reader.consume())
    try:
        await wait_until(lambda: reader.next_offsets == {P0: 2})
        assert handled == [1, 2]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_with_a_history_horizon_it_starts_at_the_first_newer_record_or_at_the_end():
    log_, handled = FakeLog(), []
    log_.write(P0, enc.encode(Rec(1)), ts_ms=1_000)
    log_.write(P0, enc.encode(Rec(2)), ts_ms=9_500)
    log_.write(P1, enc.encode(Rec(3)), ts_ms=1_000)   # older than the horizon: not read
    reader, consumers = reader_on(log_, handled, history_ms=1_000, clock_ms=lambda: 10_000)
    await reader.connect()
    assert consumers[0].positions == {P0: 1, P1: 1}
    await reader.consume(until_caught_up=True)
    assert handled == [2]


async def test_a_topic_that_never_appears_is_an_error_after_the_attempts_given():
    reader = EventLogReader(lambda: FakeConsumer(FakeLog(), topic_known=False), TOPIC, bytes, print,
                            poll_timeout_ms=10, topic_attempts=3, topic_interval_s=0)
    with pytest.raises(TopicMissing):
        await reader.connect()
    assert reader.consumer.metadata_updates == 3


async def test_lag_counts_records_not_read_and_sync_returns_once_they_are():
    log_, handled = FakeLog(), []
    reader, _ = reader_on(log_, handled)
    assert await reader.lag() == 0   # not connected: unknown
    await reader.connect()
    await reader.consume(until_caught_up=True)
    log_.write(P0, enc.encode(Rec(1)))
    log_.write(P1, enc.encode(Rec(2)))
    assert await reader.lag() == 2
    task = asyncio.create_task(reader.consume())
    try:
        await asyncio.wait_for(reader.sync(timeout_s=2), 3)
        assert await reader.lag() == 0 and sorted(handled) == [1, 2]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
