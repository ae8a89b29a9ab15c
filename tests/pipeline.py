"""A small Kafka-level client of the executor agent: produce a RunJob, collect the run's events.

Used by the agent's integration tests (no control plane in between): what goes to
throwbox.runs (or a private runs topic) and throwbox.control, and what comes back on
throwbox.events, exactly as the agent writes it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.structs import TopicPartition

from throwbox_common import kafka_client, runtimes, topics
from throwbox_common.messages import (
    ControlRecord,
    Finished,
    JobFile,
    Limits,
    RunEventRecord,
    RunJob,
    encoder,
    now_ms,
    run_event_decoder,
)

DEFAULT_LIMITS = dict(wall_time_ms=10_000, cpu_time_ms=10_000, memory_mb=256, pids=64, output_bytes=1_048_576)


def make_job(code: str, *, language: str = "python", version: str | None = None, entrypoint: str = "main.py",
             stdin: bytes | None = None, interactive: bool = False, args: list[str] | None = None,
             start_deadline_ms: int | None = None, **limits: int) -> RunJob:
    """A RunJob with defaults (version: the language's default, its newest); keyword limits
    (wall_time_ms=...) lower the defaults."""
    version = version or runtimes.load().resolve(language).version
    return RunJob(
        run_id=f"t-{uuid.uuid4().hex[:20]}", tenant="agent-tests", language=language, version=version,
        files=[JobFile(name=entrypoint, content=code.encode())], entrypoint=entrypoint,
        limits=Limits(**{**DEFAULT_LIMITS, **limits}), created_at_ms=now_ms(), args=args or [],
        stdin=stdin, interactive=interactive, start_deadline_ms=start_deadline_ms)


async def ensure_topic(bootstrap: str, name: str, partitions: int = 2) -> None:
    admin = AIOKafkaAdminClient(**kafka_client.options(bootstrap))
    await admin.start()
    try:
        if name not in await admin.list_topics():
            try:
                await admin.create_topics([NewTopic(name, partitions, 1)])
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


async def delete_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(**kafka_client.options(bootstrap))
    await admin.start()
    try:
        await admin.delete_topics([name])
    finally:
        await admin.close()


class Pipeline:
    def __init__(self, bootstrap: str, runs_topic: str = topics.RUNS):
        self.bootstrap = bootstrap
        self.runs_topic = runs_topic
        self.events: dict[str, list[RunEventRecord]] = defaultdict(list)
        self._changed = asyncio.Condition()
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(**kafka_client.options(self.bootstrap), acks="all",
                                          max_request_size=topics.MAX_RECORD_BYTES)
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(**kafka_client.options(self.bootstrap), enable_auto_commit=False,
                                          fetch_max_wait_ms=20, max_partition_fetch_bytes=topics.MAX_RECORD_BYTES)
        await self._consumer.start()
        parts = await self._event_partitions()
        self._consumer.assign(parts)
        await self._consumer.seek_to_end(*parts)
        for tp in parts:                      # resolve positions now: only records from here on
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._follow())

    async def _event_partitions(self) -> list[TopicPartition]:
        for _ in range(50):
            parts = self._consumer.partitions_for_topic(topics.EVENTS)
            if parts:
                return [TopicPartition(topics.EVENTS, p) for p in sorted(parts)]
            await self._consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {topics.EVENTS} does not exist")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
        if self._consumer:
            await self._consumer.stop()
        if self._producer:
            await self._producer.stop()

    async def _follow(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=500)
            if not batch:
                continue
            for records in batch.values():
                for rec in records:
                    try:
                        ev = run_event_decoder.decode(rec.value)
                    except (msgspec.ValidationError, msgspec.DecodeError):
                        continue   # another test's record of a newer schema: not ours to read
                    self.events[ev.run_id].append(ev)
            async with self._changed:
                self._changed.notify_all()

    async def submit(self, job: RunJob, partition: int | None = None) -> str:
        await self._producer.send_and_wait(self.runs_topic, encoder.encode(job), key=job.run_id.encode(),
                                           partition=partition)
        return job.run_id

    async def publish_event(self, event: RunEventRecord):
        """Write a throwbox.events record as if an agent had (for tests of redelivery); its metadata."""
        return await self._producer.send_and_wait(topics.EVENTS, encoder.encode(event), key=event.run_id.encode())

    async def control(self, msg: ControlRecord) -> None:
        await self._producer.send_and_wait(topics.CONTROL, encoder.encode(msg), key=msg.run_id.encode())

    async def wait_for(self, run_id: str, predicate, timeout_s: float = 60):
        """The first event of the run for which predicate(event) holds."""
        async def find():
            async with self._changed:
                while True:
                    for ev in self.events[run_id]:
                        if predicate(ev):
                            return ev
                    await self._changed.wait()
        return await asyncio.wait_for(find(), timeout_s)

    async def result(self, run_id: str, timeout_s: float = 60) -> Finished:
        return await self.wait_for(run_id, lambda e: isinstance(e, Finished), timeout_s)

    async def run(self, job: RunJob, timeout_s: float = 60) -> Finished:
        await self.submit(job)
        return await self.result(job.run_id, timeout_s)
