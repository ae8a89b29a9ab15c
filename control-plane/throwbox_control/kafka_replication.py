"""Kafka's under-replicated partitions, as this control plane reads the topic metadata.

Every CHECK_INTERVAL_S the watch asks the cluster for the metadata of every topic (one Metadata
request through its own admin client) and sets the gauge
`throwbox_kafka_under_replicated_partitions`: partitions whose in-sync replicas are fewer than
their replicas, or that report an error (no leader). With replication factor 3 and
min.insync.replicas 2, one more lost replica of such a partition stops acks=all writes, hence
the alert on it (ops/prometheus/rules). While Kafka does not answer the gauge keeps its last
value (`throwbox_dependency_up{dependency="kafka"}` says Kafka is away).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiokafka.admin import AIOKafkaAdminClient

from throwbox_common import kafka_client

from . import metrics

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 15.0

Describe = Callable[[], Awaitable[list[dict]]]


def under_replicated(topics: list[dict]) -> int:
    """Count the under-replicated partitions in describe_topics()-shaped metadata."""
    count = 0
    for topic in topics:
        if topic.get("error_code", 0) != 0:
            continue   # a topic that does not exist (or is being deleted) has no partitions to count
        for p in topic.get("partitions", ()):
            if p.get("error_code", 0) != 0 or len(p.get("isr", ())) < len(p.get("replicas", ())):
                count += 1
    return count


class ReplicationWatch:
    def __init__(self, bootstrap: str, interval_s: float = CHECK_INTERVAL_S,
                 describe: Describe | None = None) -> None:
        self.bootstrap = bootstrap
        self.interval_s = interval_s
        self._describe = describe
        self._admin: AIOKafkaAdminClient | None = None
        self.last: int | None = None

    async def _describe_topics(self) -> list[dict]:
        if self._describe is not None:
            return await self._describe()
        if self._admin is None:
            admin = AIOKafkaAdminClient(**kafka_client.options(self.bootstrap), request_timeout_ms=5_000,
                                        client_id="throwbox-control-plane-metadata")
            await admin.start()
            self._admin = admin
        return await self._admin.describe_topics()

    async def check(self) -> int | None:
        """One reading: the count (also set on the gauge), or None when Kafka did not answer."""
        try:
            n = under_replicated(await self._describe_topics())
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.debug("kafka metadata read failed", extra={"error": repr(e)})
            await self._close_admin()
            return None
        metrics.kafka_under_replicated.set(n)
        if n != (self.last or 0):
            log.log(logging.WARNING if n else logging.INFO, "kafka under-replicated partitions: %d", n)
        self.last = n
        return n

    async def run(self) -> None:
        try:
            while True:
                await self.check()
                await asyncio.sleep(self.interval_s)
        finally:
            await self._close_admin()

    async def _close_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()
