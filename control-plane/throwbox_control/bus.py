"""Kafka: the producer (events, runs, control) and the consumer that feeds the run view.

The consumer has no group: it is assigned every partition of throwbox.events and reads from
the beginning, so each instance rebuilds the state of every run after a restart. The
instance is "caught up" once it has read up to the end offsets it saw when it started.
"""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from throwbox_common import topics
from throwbox_common.aio import cancel_and_wait
from throwbox_common.messages import ControlRecord, RunEventRecord, RunJob, run_event_decoder

from .errors import DependencyError
from .runview import RunView

log = logging.getLogger("throwbox.bus")
_enc = msgspec.json.Encoder()


class KafkaUnavailable(DependencyError):
    pass


class Bus:
    def __init__(self, bootstrap: str, view: RunView, history_ms: int | None = None,
                 runs_topic: str = topics.RUNS):
        self.bootstrap = bootstrap
        self.runs_topic = runs_topic
        self.history_ms = history_ms
        self.view = view
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.partitions: list[TopicPartition] = []
        self.caught_up = asyncio.Event()
        self.consumer_ok = False
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._next_offsets: dict[TopicPartition, int] = {}

    # ---- lifecycle

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="events-consumer")

    async def stop(self) -> None:
        self._stopping = True
        await cancel_and_wait(self._task)
        for client in (self.consumer, self.producer):
            if client is not None:
                try:
                    await client.stop()
                except Exception:
                    log.warning("kafka client stop failed", exc_info=True)

    async def _connect(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", linger_ms=0,
            max_request_size=topics.MAX_RECORD_BYTES, request_timeout_ms=10_000,
            client_id="throwbox-control-plane")
        await producer.start()
        self.producer = producer
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            fetch_max_wait_ms=5, max_partition_fetch_bytes=topics.MAX_RECORD_BYTES,
            fetch_max_bytes=4 * topics.MAX_RECORD_BYTES, client_id="throwbox-control-plane-view")
        await consumer.start()
        self.consumer = consumer
        consumer._client.add_topic(topics.EVENTS)  # noqa: SLF001 - aiokafka has no public metadata refresh
        while True:
            await consumer._client.force_metadata_update()  # noqa: SLF001
            parts = consumer.partitions_for_topic(topics.EVENTS)
            if parts:
                break
            log.warning("topic %s not found yet; waiting", topics.EVENTS)
            await asyncio.sleep(1)
        self.partitions = [TopicPartition(topics.EVENTS, p) for p in sorted(parts)]
        consumer.assign(self.partitions)
        await consumer.seek_to_beginning(*self.partitions)
        if self.history_ms and not self._next_offsets:
            # Start at the first record newer than the history horizon (the beginning when the
            # horizon reaches past the topic's retention).
            since = int(time.time() * 1000) - self.history_ms
            found = await consumer.offsets_for_times({tp: since for tp in self.partitions})
            for tp, at in found.items():
                if at is None:
                    await consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, at.offset)
        for tp, offset in self._next_offsets.items():  # after a reconnect: continue, never re-apply
            if tp in self.partitions:
                consumer.seek(tp, offset)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                if self.consumer is None:
                    await self._connect()
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.consumer_ok = False
                log.error("events consumer failed; reconnecting", extra={"error": repr(e)})
                for client in (self.consumer, self.producer):
                    if client is not None:
                        try:
                            await client.stop()
                        except Exception:
                            pass
                # keep the view; the new consumer continues at the offsets already applied
                self.consumer = self.producer = None
                await asyncio.sleep(2)

    async def _consume(self) -> None:
        consumer = self.consumer
        assert consumer is not None
        targets = await consumer.end_offsets(self.partitions)
        self.consumer_ok = True
        if all(v == 0 for v in targets.values()):
            self._mark_caught_up()
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, records in batches.items():
                for r in records:
                    self._next_offsets[tp] = r.offset + 1
                    try:
                        rec = run_event_decoder.decode(r.value)
                    except (msgspec.DecodeError, TypeError):
                        log.warning("unreadable record on throwbox.events skipped",
                                    extra={"partition": r.partition, "offset": r.offset})
                        continue
                    try:
                        self.view.apply(rec)
                    except Exception:
                        log.exception("applying an event failed", extra={"run_id": getattr(rec, "run_id", "")})
            if not self.caught_up.is_set():
                positions = {tp: await consumer.position(tp) for tp in self.partitions}
                if all(positions[tp] >= targets[tp] for tp in self.partitions):
                    self._mark_caught_up()

    def _mark_caught_up(self) -> None:
        if not self.caught_up.is_set():
            self.view.live = True
            self.caught_up.set()
            log.info("run view caught up", extra={"runs": len(self.view.runs)})

    async def lag(self) -> int:
        """Records on throwbox.events not yet applied (0 when unknown)."""
        consumer = self.consumer
        if consumer is None or not self.partitions:
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

    async def sync(self, timeout_s: float = 2.0) -> None:
        """Wait until this instance has applied everything written to throwbox.events so far."""
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
                await asyncio.sleep(0.005)
        except (KafkaError, TimeoutError, AssertionError):
            return

    # ---- producing

    async def _send(self, topic: str, key: str, value: bytes) -> None:
        if self.producer is None:
            raise KafkaUnavailable("kafka producer not connected")
        try:
            await self.producer.send_and_wait(topic, value=value, key=key.encode())
        except KafkaError as e:
            raise KafkaUnavailable(f"kafka produce to {topic} failed: {type(e).__name__}") from e

    async def publish_submission(self, submitted: RunEventRecord, job: RunJob) -> None:
        """Submitted, then the job, in that order on one producer, acknowledged together.

        Both records are queued before either is awaited, so one round trip to Kafka covers the
        pair. (Readers do not depend on the two landing in order: Submitted is not numbered.)
        """
        if self.producer is None:
            raise KafkaUnavailable("kafka producer not connected")
        try:
            first = await self.producer.send(topics.EVENTS, value=_enc.encode(submitted), key=submitted.run_id.encode())
            second = await self.producer.send(self.runs_topic, value=_enc.encode(job), key=job.run_id.encode())
            await first
            await second
        except KafkaError as e:
            raise KafkaUnavailable(f"kafka produce failed: {type(e).__name__}") from e

    async def publish_event(self, rec: RunEventRecord) -> None:
        await self._send(topics.EVENTS, rec.run_id, _enc.encode(rec))

    async def publish_control(self, rec: ControlRecord) -> None:
        await self._send(topics.CONTROL, rec.run_id, _enc.encode(rec))
