"""The one offset tracker (the agent's runs, the control plane's invocations)."""

from aiokafka.structs import TopicPartition

from throwbox_common.offsets import OffsetTracker

TP = TopicPartition("t", 0)


def test_the_commit_point_stays_below_the_oldest_record_still_in_flight():
    o = OffsetTracker()
    for off in (5, 6, 7):
        o.begin(TP, off)
    o.done(TP, 7)
    assert o.to_commit() == {TP: 5}
    o.done(TP, 5)
    assert o.to_commit() == {TP: 6}
    o.mark_committed({TP: 6})
    assert o.to_commit() == {}
    o.done(TP, 6)
    assert o.to_commit() == {TP: 8}          # all done: one past the highest
    assert o.commit_point(TP) == 8


def test_only_the_partitions_asked_for_are_offered():
    other = TopicPartition("t", 1)
    o = OffsetTracker()
    o.begin(TP, 1)
    o.begin(other, 1)
    o.done(TP, 1)
    o.done(other, 1)
    assert o.to_commit([other]) == {other: 2}


def test_a_revoked_partition_is_forgotten_and_late_completions_are_ignored():
    o = OffsetTracker()
    o.begin(TP, 3)
    o.forget([TP])
    assert o.commit_point(TP) is None
    o.done(TP, 3)                             # its new owner redoes the work
    assert o.to_commit() == {}
