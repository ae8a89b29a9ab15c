"""The control plane's gauge of Kafka's under-replicated partitions (from topic metadata)."""

import asyncio

from throwbox_control import metrics
from throwbox_control.kafka_replication import ReplicationWatch, under_replicated


def topic(name, *partitions, error_code=0):
    return {"error_code": error_code, "topic": name, "is_internal": False,
            "partitions": [{"error_code": e, "partition": i, "leader": 1 if e == 0 else -1,
                            "replicas": replicas, "isr": isr}
                           for i, (replicas, isr, e) in enumerate(partitions)]}


HEALTHY = [topic("throwbox.runs", ([1, 2, 3], [1, 2, 3], 0), ([2, 3, 1], [3, 1, 2], 0)),
           topic("throwbox.events", ([3, 1, 2], [3, 1, 2], 0))]
BROKER_3_DOWN = [topic("throwbox.runs", ([1, 2, 3], [1, 2], 0), ([2, 3, 1], [2, 1], 0)),
                 topic("throwbox.events", ([3, 1, 2], [1, 2], 0)),
                 topic("throwbox.control", ([1, 2, 3], [1, 2, 3], 0))]


def gauge() -> float | None:
    return metrics.registry.get_sample_value("throwbox_kafka_under_replicated_partitions")


def test_counts_partitions_with_fewer_in_sync_replicas_than_replicas():
    assert under_replicated(HEALTHY) == 0
    assert under_replicated(BROKER_3_DOWN) == 3
    assert under_replicated([]) == 0


def test_a_partition_without_leader_counts_and_a_missing_topic_does_not():
    offline = [topic("throwbox.runs", ([1, 2, 3], [], 5), ([1], [1], 0)),
               topic("gone", error_code=3)]
    assert under_replicated(offline) == 1


def test_single_broker_topics_are_never_under_replicated():
    assert under_replicated([topic("throwbox.runs", ([1], [1], 0), ([1], [1], 0))]) == 0


def test_the_watch_sets_the_gauge_and_keeps_it_while_kafka_does_not_answer():
    answers: list = [BROKER_3_DOWN, OSError("connection refused"), HEALTHY]

    async def describe():
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    async def main():
        w = ReplicationWatch("unused:9092", describe=describe)
        assert await w.check() == 3
        assert gauge() == 3
        assert await w.check() is None
        assert gauge() == 3            # Kafka away: the last reading stays
        assert await w.check() == 0
        assert gauge() == 0

    asyncio.run(main())


def test_the_watch_runs_periodically_until_cancelled():
    calls = []
    third = asyncio.Event()

    async def describe():
        calls.append(1)
        if len(calls) == 3:
            third.set()
        return HEALTHY

    async def main():
        task = asyncio.create_task(ReplicationWatch("unused:9092", interval_s=0.01, describe=describe).run())
        await asyncio.wait_for(third.wait(), 10)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        assert task.cancelled()

    asyncio.run(main())
    assert b"throwbox_kafka_under_replicated_partitions 0.0" in metrics.render()
