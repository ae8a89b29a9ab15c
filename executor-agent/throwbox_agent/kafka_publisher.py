"""The agent's Kafka producer behind `KafkaPublisher` (acks=all, idempotent), renewed after a
fatal producer error."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError, OutOfOrderSequenceNumber, ProducerFenced

from throwbox_common import kafka_client, topics
from throwbox_common.messages import Output, RunEventRecord, encoder

from .config import AgentConfig
from .errors import PublishError

log = logging.getLogger(__name__)

# Records of one partition go to Kafka in one batch per produce request: a run's last output
# and its Finished (which repeats the output) share a request only if both fit (aiokafka's
# default is 16 KiB). Memory grows with what is queued, not with this bound.
PRODUCE_BATCH_BYTES = 1024 * 1024


# After these, aiokafka's idempotent producer never sends again (its sender task has ended):
# the broker no longer accepts its sequence numbers, as after a broker restart that lost the
# producer's last batches. Only a new producer (a new producer id) publishes again.
FATAL_PRODUCER_ERRORS = (OutOfOrderSequenceNumber, ProducerFenced)


class KafkaPublisher:
    """Events out through the agent's producer (acks=all, idempotent: a batch it has sent is
    retried by aiokafka until the broker takes it, so an ack may simply arrive late). A producer
    that hit a fatal error is replaced by a new one, and the failed publish may be retried."""

    def __init__(self, make_producer: Callable[[], Awaitable[AIOKafkaProducer]]):
        self._make_producer = make_producer
        self._producer: AIOKafkaProducer | None = None
        self._renewing = asyncio.Lock()

    async def start(self) -> None:
        self._producer = await self._make_producer()

    async def stop(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()

    async def _send(self, event: RunEventRecord) -> asyncio.Future:
        producer = self._producer
        assert producer is not None, "KafkaPublisher.start() first"
        try:
            return await producer.send(topics.EVENTS, encoder.encode(event), key=event.run_id.encode())
        except FATAL_PRODUCER_ERRORS:
            await self._renew(producer)
            raise

    async def _renew(self, broken: AIOKafkaProducer) -> None:
        """Replace a producer that hit a fatal error. If the new one cannot start (the broker is
        still away), the broken one stays and the next publish that fails tries again."""
        async with self._renewing:
            if self._producer is not broken:
                return          # another publish renewed it already
            log.warning("the Kafka producer hit a fatal error: replacing it")
            try:
                self._producer = await self._make_producer()
            except KafkaError as e:
                log.warning("a new Kafka producer could not start yet: %s", e)
                return
        with contextlib.suppress(Exception):
            await broken.stop()

    async def publish(self, event: RunEventRecord) -> None:
        """Enqueue only (aiokafka's send returns once the record is in the partition's open batch)."""
        await self._send(event)

    async def publish_acked(self, event: RunEventRecord, preceded_by: Sequence[Output] = ()) -> None:
        # send() does not wait while the topic's metadata is known and the open batch has room:
        # the chunks and `event` land in the same batch, before the sender task can take it.
        try:
            for chunk in preceded_by:
                await self.publish(chunk)
        except KafkaError as e:
            log.warning("run %s: publishing its last output: %s; it is only in the result", event.run_id, e)
        producer = self._producer
        try:
            await (await self._send(event))
        except KafkaError as e:
            if isinstance(e, FATAL_PRODUCER_ERRORS):
                await self._renew(producer)     # the batch died with the producer: send it anew
            # A timeout here means the broker was away (buffer full, or no leader): worth another try.
            raise PublishError(f"{type(e).__name__}: {e}",
                               retriable=e.retriable or isinstance(e, (KafkaTimeoutError, *FATAL_PRODUCER_ERRORS))) from e


async def new_producer(config: AgentConfig) -> AIOKafkaProducer:
    """A started producer of the agent's events."""
    # No linger: Started and Finished are waited for on a run's path; output is already coalesced
    # per run, and what queues while a request is in flight goes out together in the next one.
    producer = AIOKafkaProducer(
        **kafka_client.options(config.kafka_bootstrap), acks="all", enable_idempotence=True,
        max_request_size=topics.MAX_RECORD_BYTES, max_batch_size=PRODUCE_BATCH_BYTES, linger_ms=0,
        client_id=f"throwbox-agent-{config.name}")
    try:
        await producer.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await producer.stop()      # its client and connections, half set up
        raise
    return producer
