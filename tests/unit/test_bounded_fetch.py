"""throwbox_common.consuming.BoundedFetch: fetch only while there is room, pause while full."""

import asyncio

from throwbox_common.consuming import BoundedFetch


class FakeConsumer:
    def __init__(self, records=None):
        self.assigned = {"p0", "p1"}
        self.paused: set[str] = set()
        self.records = records or {}
        self.polls: list[dict] = []

    def assignment(self):
        return set(self.assigned)

    def pause(self, *tps):
        self.paused |= set(tps)

    def resume(self, *tps):
        self.paused -= set(tps)

    async def getmany(self, timeout_ms=0, max_records=None):
        self.polls.append({"timeout_ms": timeout_ms, "max_records": max_records})
        return {} if self.paused else self.records


async def test_with_room_it_fetches_at_most_that_many_records():
    c = FakeConsumer({"p0": ["r1"]})
    assert await BoundedFetch(c, asyncio.Event()).next(3) == {"p0": ["r1"]}
    assert c.polls == [{"timeout_ms": 200, "max_records": 3}] and not c.paused


async def test_when_full_it_pauses_keeps_polling_without_records_and_resumes_when_there_is_room():
    c = FakeConsumer({"p0": ["r1"]})
    fetch = BoundedFetch(c, asyncio.Event(), full_wait_s=0)
    assert await fetch.next(0) == {}
    assert c.paused == {"p0", "p1"} and c.polls[-1] == {"timeout_ms": 0, "max_records": None}
    assert await fetch.next(1) == {"p0": ["r1"]}
    assert not c.paused


async def test_a_freed_slot_or_stop_ends_the_wait_while_full():
    c, freed, stop = FakeConsumer(), asyncio.Event(), asyncio.Event()
    fetch = BoundedFetch(c, freed, full_wait_s=3600)
    waiting = asyncio.create_task(fetch.next(0))
    await asyncio.sleep(0)
    freed.set()
    assert await asyncio.wait_for(waiting, 60) == {}
    waiting = asyncio.create_task(fetch.next(0, stop=stop))
    await asyncio.sleep(0)
    stop.set()
    assert await asyncio.wait_for(waiting, 60) == {}


async def test_a_partition_assigned_while_full_is_paused_too():
    c = FakeConsumer()
    fetch = BoundedFetch(c, asyncio.Event(), full_wait_s=0)
    await fetch.next(0)
    c.assigned.add("p2")
    await fetch.next(0)
    assert c.paused == {"p0", "p1", "p2"}


class CommittingConsumer:
    def __init__(self):
        self.commits: list[dict] = []

    async def commit(self, offsets):
        self.commits.append({tp: m.offset for tp, m in offsets.items()})


async def test_commit_done_commits_only_the_moved_points_of_the_partitions_given_and_records_them():
    from aiokafka.structs import TopicPartition

    from throwbox_common.consuming import commit_done
    from throwbox_common.offsets import OffsetTracker

    p0, p1 = TopicPartition("t", 0), TopicPartition("t", 1)
    tracker, c = OffsetTracker(), CommittingConsumer()
    for tp, offset in ((p0, 5), (p0, 6), (p1, 1)):
        tracker.begin(tp, offset)
    tracker.done(p0, 6)   # out of order: 5 still in flight, so p0's point stays at 5
    tracker.done(p1, 1)
    assert await commit_done(c, tracker, {p1}) == {p1: 2}
    assert await commit_done(c, tracker, {p0, p1}) == {p0: 5}   # p1 already committed at 2
    assert await commit_done(c, tracker, {p0, p1}) == {}
    assert c.commits == [{p1: 2}, {p0: 5}]
