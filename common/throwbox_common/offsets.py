"""Commit points per partition when work finishes out of order (pure; unit-tested): the one
offset tracker of the agent's runs and the control plane's invocations.

A record's offset is done only once its work is durable (a run's Finished, an invocation's reply
or dead letter, acknowledged by Kafka). The commit point of a partition is the lowest offset
still in flight, or one past the highest done, so a crash redelivers every record whose work is
not durable, and nothing before it. A completion for a partition given up meanwhile (revoked,
forgotten) is ignored: its new owner redoes that work, and a stale point must never be committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka.structs import TopicPartition


@dataclass
class OffsetTracker:
    in_flight: dict[TopicPartition, set[int]] = field(default_factory=dict)
    high: dict[TopicPartition, int] = field(default_factory=dict)
    committed: dict[TopicPartition, int] = field(default_factory=dict)

    def begin(self, tp: TopicPartition, offset: int) -> None:
        self.in_flight.setdefault(tp, set()).add(offset)

    def done(self, tp: TopicPartition, offset: int) -> None:
        pending = self.in_flight.get(tp)
        if pending is None or offset not in pending:
            return  # the partition was revoked meanwhile: its new owner redoes the request
        pending.discard(offset)
        self.high[tp] = max(self.high.get(tp, 0), offset + 1)

    def commit_point(self, tp: TopicPartition) -> int | None:
        pending = self.in_flight.get(tp)
        if pending:
            return min(pending)
        return self.high.get(tp)

    def to_commit(self, tps: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Partitions whose commit point moved past what was committed."""
        out = {}
        for tp in (self.in_flight.keys() | self.high.keys()) if tps is None else tps:
            point = self.commit_point(tp)
            if point is not None and point > self.committed.get(tp, -1):
                out[tp] = point
        return out

    def mark_committed(self, points: dict[TopicPartition, int]) -> None:
        for tp, point in points.items():
            self.committed[tp] = max(self.committed.get(tp, -1), point)

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            self.in_flight.pop(tp, None)
            self.high.pop(tp, None)
            self.committed.pop(tp, None)
