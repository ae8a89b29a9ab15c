"""Kafka: the producer (events, runs, control) and the consumer that feeds the run view.

The consumer has no group: it is assigned every partition of throwbox.events and reads from
the beginning, so each instance rebuilds the state of every run after a restart. The
instance is "caught up" once it has read up to the end offsets it saw when it started
(common/event_log.py, the same reader the agent's ledger uses).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from throwbox_common import kafka_client, topics
from throwbox_common.aio import cancel_and_wait
from throwbox_common.event_log import EventLogReader
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
        self.reader: EventLogReader[RunEventRecord] = EventLogReader(
            self._new_consumer, topics.EVENTS, run_event_decoder.decode, view.apply,
            poll_timeout_ms=200, history_ms=history_ms, topic_attempts=None, topic_interval_s=1,
            on_caught_up=self._caught_up)
        self.caught_up = self.reader.caught_up
        self._failed = False
        self._task: asyncio.Task | None = None
        self._stopping = False

    @property
    def consumer_ok(self) -> bool:
        return self.reader.reading and not self._failed

    # ---- lifecycle

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="events-consumer")

    async def stop(self) -> None:
        self._stopping = True
        await cancel_and_wait(self._task)
        await self.reader.close()
        if self.producer is not None:
            try:
                await self.producer.stop()
            except Exception:
                log.warning("kafka client stop failed", exc_info=True)

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            **kafka_client.options(self.bootstrap), group_id=None, enable_auto_commit=False,
            fetch_max_wait_ms=5, max_partition_fetch_bytes=topics.MAX_RECORD_BYTES,
            fetch_max_bytes=4 * topics.MAX_RECORD_BYTES, client_id="throwbox-control-plane-view")

    async def _connect(self) -> None:
        producer = AIOKafkaProducer(
            **kafka_client.options(self.bootstrap), acks="all", linger_ms=0,
            max_request_size=topics.MAX_RECORD_BYTES, request_timeout_ms=10_000,
            client_id="throwbox-control-plane")
        await producer.start()
        self.producer = producer
        await self.reader.connect()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                if self.reader.consumer is None:
                    await self._connect()
                self._failed = False
                await self.reader.consume()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._failed = True
                log.error("events consumer failed; reconnecting", extra={"error": repr(e)})
                await self.reader.close()
                if self.producer is not None:
                    with contextlib.suppress(Exception):
                        await self.producer.stop()
                # keep the view; the new consumer continues at the offsets already applied
                self.producer = None
                await asyncio.sleep(2)

    def _caught_up(self) -> None:
        self.view.live = True
        log.info("run view caught up", extra={"runs": len(self.view.runs)})

    async def lag(self) -> int:
        """Records on throwbox.events not yet applied (0 when unknown)."""
        return await self.reader.lag()

    async def sync(self, timeout_s: float = 2.0) -> None:
        """Wait until this instance has applied everything written to throwbox.events so far."""
        await self.reader.sync(timeout_s)

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
