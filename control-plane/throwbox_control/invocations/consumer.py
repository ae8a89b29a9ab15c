"""The consumer of every tenant's request topic (throwbox.invocations.<tenant>) in one
control-plane instance.

Every instance joins the consumer group `throwbox-invocations` and subscribes by pattern, so a
tenant provisioned later is picked up at the next metadata refresh and the instances share all
the topics' partitions (round robin: a tenant's topic has few partitions). The tenant of a
record is its topic's. One record → one handler task:

  parse → (dead letter | failed result | tenant → checked run → run id → submit once → result)
  → reply produced and acknowledged → offset done → committed (at-least-once).

This module is the Kafka side (the group, offsets, replies, the dead-letter topic); one
request's way from tenant to result is `handler.InvocationHandler`.

- The run id is derived from (tenant, request_id): a request seen again (redelivery after a
  crash or rebalance, a producer retry, a second send) finds its run in the run view and is
  not submitted twice; a finished one gets the same result again.
- A request over its tenant's quota (or refused by a global cap, or while Kafka/Consul are
  unavailable) waits and retries; it is never failed for being early.
- Up to `max_in_flight` requests are handled at once (runs wait concurrently); the
  partitions are paused while that many are open. Offsets are committed per partition up to
  the lowest request still open, so nothing whose reply is not durable is ever skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from prometheus_client import Counter, Gauge

from throwbox_common import kafka_client, topics
from throwbox_common.aio import cancel_and_wait
from throwbox_common.consuming import BoundedFetch, commit_done
from throwbox_common.offsets import OffsetTracker

from .. import metrics
from ..services import Services
from . import wire
from .handler import InvocationHandler, invocation_run_id
from .tenants import TenantDirectory

__all__ = ["GROUP", "InvocationConsumer", "invocation_run_id"]

log = logging.getLogger("throwbox.invocations")
GROUP = "throwbox-invocations"
RETRY_MAX_S = 5.0
RECONNECT_S = 2.0
NEW_TOPICS_AFTER_MS = 5_000    # a newly provisioned tenant's topic is consumed within this

handled = Counter("throwbox_invocations_total",
                  "Invocation records handled, by how they ended (result, invalid, dead_letter)",
                  ["ending"], registry=metrics.registry)
in_flight = Gauge("throwbox_invocations_in_flight", "Invocation records being handled by this instance",
                  registry=metrics.registry)


class InvocationConsumer:
    def __init__(self, svc: Services, max_in_flight: int = 1000, group: str = GROUP):
        self.svc = svc
        self.max_in_flight = max_in_flight
        self.group = group
        self.tenants = TenantDirectory(svc.kv, svc.keys.default_quota, svc.settings.key_cache_ttl_ms / 1000)
        self._handler = InvocationHandler(svc, self.tenants)
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._offsets = OffsetTracker()
        self._handlers: dict[tuple[TopicPartition, int], asyncio.Task] = {}
        self._slot_freed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="invocations-consumer")

    async def stop(self) -> None:
        """Stop taking requests; open ones are left uncommitted and redelivered to another instance."""
        self._stopping = True
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._connect()
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.error("invocations consumer failed; reconnecting", extra={"error": repr(e)})
            finally:
                await asyncio.shield(self._disconnect())
            await asyncio.sleep(RECONNECT_S)

    async def _connect(self) -> None:
        bootstrap = self.svc.settings.kafka_bootstrap
        producer = AIOKafkaProducer(
            **kafka_client.options(bootstrap), acks="all", enable_idempotence=True, linger_ms=0,
            request_timeout_ms=10_000, max_request_size=topics.MAX_RECORD_BYTES,
            client_id="throwbox-control-plane-invocations")
        await producer.start()
        self._producer = producer
        consumer = AIOKafkaConsumer(
            **kafka_client.options(bootstrap), group_id=self.group, enable_auto_commit=False,
            auto_offset_reset="earliest", fetch_max_wait_ms=50, session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000, max_partition_fetch_bytes=topics.MAX_RECORD_BYTES,
            fetch_max_bytes=4 * topics.MAX_RECORD_BYTES, client_id="throwbox-control-plane-invocations",
            metadata_max_age_ms=NEW_TOPICS_AFTER_MS, partition_assignment_strategy=(RoundRobinPartitionAssignor,))
        await consumer.start()
        self._consumer = consumer
        consumer.subscribe(pattern=wire.REQUEST_TOPICS.pattern, listener=_Listener(self))

    async def _disconnect(self) -> None:
        await self._cancel_handlers(None)
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._commit(), 5)
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        self._consumer = self._producer = None
        self._offsets = OffsetTracker()

    async def _cancel_handlers(self, tps: set[TopicPartition] | None) -> None:
        await cancel_and_wait(*(t for (tp, _), t in self._handlers.items() if tps is None or tp in tps))

    async def _revoked(self, tps: set[TopicPartition]) -> None:
        """A rebalance takes partitions away: their open requests are redone by the new owner."""
        await self._cancel_handlers(tps)
        with contextlib.suppress(Exception):
            await self._commit(tps)
        self._offsets.forget(tps)

    # ------------------------------------------------------------------ the loop

    async def _consume(self) -> None:
        assert self._consumer is not None
        fetch = BoundedFetch(self._consumer, self._slot_freed, full_wait_s=0.5)
        while not self._stopping:
            batch = await fetch.next(self.max_in_flight - len(self._handlers))
            for tp, records in batch.items():
                for rec in records:
                    self._offsets.begin(tp, rec.offset)
                    task = asyncio.create_task(self._handle(tp, rec), name=f"invocation-{tp.partition}-{rec.offset}")
                    self._handlers[(tp, rec.offset)] = task
            in_flight.set(len(self._handlers))
            await self._commit()

    async def _commit(self, tps: set[TopicPartition] | None = None) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        assigned = consumer.assignment()
        try:
            await commit_done(consumer, self._offsets, assigned if tps is None else set(tps) & assigned)
        except KafkaError as e:  # retried on the next turn; a redelivery is answered the same way
            log.info("invocations commit failed", extra={"error": repr(e)})

    async def _handle(self, tp: TopicPartition, rec) -> None:
        try:
            ending = await self._process(rec)
            handled.labels(ending).inc()
            self._offsets.done(tp, rec.offset)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug here must not lose the record: dead-letter it, then move on
            log.exception("invocation handling failed", extra={"partition": tp.partition, "offset": rec.offset})
            await self._produce(topics.DLQ, rec.key, rec.value, _dlq_headers(f"internal error: {type(e).__name__}", rec))
            handled.labels("dead_letter").inc()
            self._offsets.done(tp, rec.offset)
        finally:
            self._handlers.pop((tp, rec.offset), None)
            in_flight.set(len(self._handlers))
            self._slot_freed.set()

    # ------------------------------------------------------------------ one request

    async def _process(self, rec) -> str:
        tenant = wire.tenant_of(rec.topic)
        if tenant is None:          # the pattern matched it: cannot happen, but never guess a tenant
            raise AssertionError(f"record on {rec.topic}, not a tenant's request topic")
        parsed = wire.parse(rec.key, rec.value, tenant)
        match parsed:
            case wire.Dead(reason=reason):
                log.warning("invocation dead-lettered", extra={"partition": rec.partition, "offset": rec.offset,
                                                               "reason": reason})
                await self._produce(topics.DLQ, rec.key, rec.value, _dlq_headers(reason, rec))
                return "dead_letter"
            case wire.Invalid():
                log.info("invalid invocation", extra={"request_id": parsed.request_id, "code": parsed.code,
                                                      "error": parsed.message})
                await self._reply(parsed.reply_to, parsed.request_id, wire.failed_result(parsed.code, parsed.message))
                return "invalid"
            case wire.Request():
                result = await self._handler.execute(parsed)
                await self._reply(parsed.reply_to, parsed.request_id, result)
                return "result"
        raise AssertionError(f"unexpected parse result {parsed!r}")

    # ------------------------------------------------------------------ producing

    async def _reply(self, topic: str, request_id: str, result: bytes) -> None:
        await self._produce(topic, request_id.encode(), wire.encode_reply(request_id, result))

    async def _produce(self, topic: str, key: bytes | None, value: bytes | None,
                       headers: list[tuple[str, bytes]] | None = None) -> None:
        """Until Kafka acknowledges it. A reply topic that does not exist (its tenant was revoked)
        → the reply is dead-lettered."""
        delay = 0.2
        while True:
            producer = self._producer
            if producer is not None:
                try:
                    if topic != topics.DLQ and await self._topic_missing(producer, topic):
                        log.warning("reply topic does not exist: reply dead-lettered", extra={"topic": topic})
                        topic, headers = topics.DLQ, [(wire.H_REASON, f"reply_to topic {topic} does not exist".encode())]
                        continue
                    fut = await producer.send(topic, value=value, key=key, headers=headers)
                    await fut
                    return
                except KafkaError as e:
                    log.info("produce failed; retrying", extra={"topic": topic, "error": repr(e)})
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)

    @staticmethod
    async def _topic_missing(producer: AIOKafkaProducer, topic: str) -> bool:
        if producer.client.cluster.partitions_for_topic(topic) is not None:
            return False
        cluster = await producer.client.fetch_all_metadata()  # raises KafkaError while Kafka is away
        return topic not in cluster.topics()


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: InvocationConsumer):
        self.owner = owner

    async def on_partitions_revoked(self, revoked):
        await self.owner._revoked(set(revoked))   # noqa: SLF001

    async def on_partitions_assigned(self, assigned):
        log.info("invocations partitions assigned", extra={"partitions": sorted(tp.partition for tp in assigned)})


def _dlq_headers(reason: str, rec) -> list[tuple[str, bytes]]:
    return [(wire.H_REASON, reason.encode()), (wire.H_SOURCE, f"{rec.topic}/{rec.partition}/{rec.offset}".encode())]
