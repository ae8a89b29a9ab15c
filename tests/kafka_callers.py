"""Test helpers for event-driven callers: produce invocations, collect replies and dead letters.

    async with TopicWatcher(KAFKA_BOOTSTRAP, "throwbox.results.<t>") as replies:
        await send(KAFKA_BOOTSTRAP, {"request_id": rid, "tenant": t, "run": {...}})  # to t's request topic
        reply = await replies.wait(rid)

A watcher reads every partition of its topic from the end as of `__aenter__`, so it sees only
records written after it started (other replies on the topic are ignored by key). Both connect
as this process's Kafka principal (the stack's admin in tests) unless given `credentials`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from throwbox_common import kafka_access, kafka_client, topics


class TopicWatcher:
    def __init__(self, bootstrap: str, topic: str, credentials: kafka_client.Credentials | bool = True):
        self.bootstrap = bootstrap
        self.topic = topic
        self.credentials = credentials
        self.records: dict[bytes | None, list] = defaultdict(list)
        self._changed = asyncio.Condition()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> TopicWatcher:
        self._consumer = AIOKafkaConsumer(**kafka_client.options(self.bootstrap, self.credentials),
                                          enable_auto_commit=False,
                                          fetch_max_wait_ms=50, max_partition_fetch_bytes=topics.MAX_RECORD_BYTES)
        await self._consumer.start()
        parts = None
        for _ in range(100):
            parts = self._consumer.partitions_for_topic(self.topic)
            if parts:
                break
            await self._consumer._client.force_metadata_update()  # noqa: SLF001
            await asyncio.sleep(0.1)
        assert parts, f"topic {self.topic} does not exist"
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._follow())
        return self

    async def __aexit__(self, *exc) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    async def _follow(self) -> None:
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=500)
            except Exception:  # the broker may be restarting in failure tests: keep following
                await asyncio.sleep(0.5)
                continue
            if not batch:
                continue
            for records in batch.values():
                for rec in records:
                    self.records[rec.key].append(rec)
            async with self._changed:
                self._changed.notify_all()

    async def wait(self, key: str | bytes | None, timeout_s: float = 90, count: int = 1) -> list:
        """The first `count` records with this key (raw ConsumerRecords)."""
        k = key.encode() if isinstance(key, str) else key

        async def enough():
            async with self._changed:
                while len(self.records[k]) < count:
                    await self._changed.wait()
                return self.records[k][:count]
        return await asyncio.wait_for(enough(), timeout_s)

    async def reply(self, request_id: str, timeout_s: float = 90) -> dict:
        """The first reply to request_id, decoded."""
        rec = (await self.wait(request_id, timeout_s))[0]
        return json.loads(rec.value)

    def replies(self, request_id: str) -> list[dict]:
        return [json.loads(r.value) for r in self.records[request_id.encode()]]


async def send(bootstrap: str, *requests: dict | tuple[bytes | None, bytes], tenant: str | None = None,
               credentials: kafka_client.Credentials | bool = True) -> None:
    """Produce invocations to a tenant's request topic (`tenant`, else the one each dict names):
    a dict (key = its request_id) or a raw (key, value) pair."""
    producer = AIOKafkaProducer(**kafka_client.options(bootstrap, credentials), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = []
        for r in requests:
            if isinstance(r, dict):
                key, value = str(r.get("request_id", "")).encode() or None, json.dumps(r).encode()
                to = tenant or r["tenant"]
            else:
                key, value = r
                assert tenant, "a raw record needs the tenant whose topic it goes to"
                to = tenant
            futures.append(await producer.send(topics.INVOCATIONS_PREFIX + to, value=value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def python_run(code: str, **fields) -> dict:
    return {"language": "python", "files": [{"name": "main.py", "content": code}], **fields}


async def kafka_tenant(bootstrap: str, tenant: str) -> str:
    """The tenant's request and reply topics, principal and ACLs (as `throwbox keys kafka`
    provisions them; this process connects as the Kafka admin); its reply topic's name."""
    admin = AIOKafkaAdminClient(**kafka_client.options(bootstrap), request_timeout_ms=10_000)
    await admin.start()
    try:
        await kafka_access.provision_tenant(admin, tenant, secrets.token_urlsafe(24))
    finally:
        await admin.close()
    return kafka_access.results_topic(tenant)
