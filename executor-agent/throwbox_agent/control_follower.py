"""throwbox.control followed from the end of every partition: stdin and cancel records go to the
run's lifecycle if the run is in flight here, or wait (bounded) for the run to be taken here."""

from __future__ import annotations

import asyncio
import logging

import msgspec
from aiokafka import AIOKafkaConsumer

from throwbox_common import kafka_client, topics
from throwbox_common.event_log import TopicMissing, topic_partitions
from throwbox_common.messages import ControlRecord, control_decoder

from .config import AgentConfig
from .errors import AgentError
from .ledger import LRU, Ledger
from .run import RunLifecycle

log = logging.getLogger(__name__)

PENDING_RUNS = 2000                  # runs whose controls are kept until the run is taken here
PENDING_PER_RUN = 1000               # controls kept per such run (the newest)


class ControlFollower:
    def __init__(self, config: AgentConfig, active: dict[str, RunLifecycle], ledger: Ledger):
        self.config = config
        self.active = active
        self.ledger = ledger
        self.pending = LRU(PENDING_RUNS)      # controls for runs not (yet) held here
        self.ready = asyncio.Event()          # its position is known: runs may be taken

    async def follow(self) -> None:
        consumer = AIOKafkaConsumer(**kafka_client.options(self.config.kafka_bootstrap), enable_auto_commit=False,
                                    fetch_max_wait_ms=20)
        await consumer.start()
        try:
            await self._seek_to_end(consumer)
            self.ready.set()
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for rec in records:
                        try:
                            msg = control_decoder.decode(rec.value)
                        except (msgspec.ValidationError, msgspec.DecodeError) as e:
                            log.warning("ignoring a bad control record at %s/%d: %s", rec.partition, rec.offset, e)
                            continue
                        self.dispatch(msg)
        finally:
            await consumer.stop()

    @staticmethod
    async def _seek_to_end(consumer: AIOKafkaConsumer) -> None:
        try:
            parts = await topic_partitions(consumer, topics.CONTROL)
        except TopicMissing as e:
            raise AgentError(str(e)) from e
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for tp in parts:   # seek_to_end is lazy: resolve the end offsets now
            await consumer.position(tp)

    def dispatch(self, msg: ControlRecord) -> None:
        lc = self.active.get(msg.run_id)
        if lc is not None:
            lc.control(msg)
            return
        if msg.run_id in self.ledger.finished:
            return
        # Not here (yet): keep it for when the run is picked up here; another agent may hold it.
        queued = self.pending.get(msg.run_id) or []
        queued.append(msg)
        self.pending.put(msg.run_id, queued[-PENDING_PER_RUN:])

    def take_pending(self, lc: RunLifecycle) -> None:
        """The run is taken here: the controls that came before it, in order."""
        for msg in self.pending.pop(lc.job.run_id) or []:
            lc.control(msg)
