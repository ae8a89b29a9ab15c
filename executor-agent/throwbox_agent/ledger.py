"""What the agent knows about runs from throwbox.events and its own bookkeeping (pure parts)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import msgspec
from aiokafka.structs import TopicPartition


class _Peek(msgspec.Struct):
    """The few fields of an events record the ledger needs (output data and results are skipped)."""

    type: str
    run_id: str
    agent: str = ""
    sandbox: str = ""
    at_ms: int = 0


_peek = msgspec.json.Decoder(_Peek)


@dataclass(frozen=True)
class StartedBy:
    agent: str
    sandbox: str
    at_ms: int


class LRU:
    def __init__(self, capacity: int):
        self._capacity = capacity
        self._data: OrderedDict[str, object] = OrderedDict()

    def put(self, key: str, value: object = True) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self._capacity:
            self._data.popitem(last=False)

    def get(self, key: str):
        return self._data.get(key)

    def pop(self, key: str):
        return self._data.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)


class Ledger:
    """Run ids that already have a result, and which agent started which run."""

    def __init__(self, capacity: int = 200_000):
        self.finished = LRU(capacity)
        self.started = LRU(capacity)

    def observe(self, raw: bytes) -> None:
        try:
            rec = _peek.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return
        if rec.type == "result":
            self.finished.put(rec.run_id)
            self.started.pop(rec.run_id)
        elif rec.type == "status" and rec.run_id not in self.finished:
            self.started.put(rec.run_id, StartedBy(rec.agent, rec.sandbox, rec.at_ms))

    def is_finished(self, run_id: str) -> bool:
        return run_id in self.finished

    def started_by(self, run_id: str) -> StartedBy | None:
        return self.started.get(run_id)


@dataclass
class OffsetTracker:
    """Commit points per partition when runs finish out of order: the committed offset is the
    lowest offset still in flight (or one past the highest seen), so a crash redelivers every
    run that has no durable result, and nothing that has."""

    in_flight: dict[TopicPartition, set[int]] = field(default_factory=dict)
    high: dict[TopicPartition, int] = field(default_factory=dict)
    committed: dict[TopicPartition, int] = field(default_factory=dict)

    def begin(self, tp: TopicPartition, offset: int) -> None:
        self.in_flight.setdefault(tp, set()).add(offset)
        self.high[tp] = max(self.high.get(tp, 0), offset + 1)

    def done(self, tp: TopicPartition, offset: int) -> int | None:
        """Mark one finished; the new commit point if it advanced, else None."""
        self.in_flight.get(tp, set()).discard(offset)
        self.high[tp] = max(self.high.get(tp, 0), offset + 1)
        point = self.commit_point(tp)
        if point is not None and point > self.committed.get(tp, -1):
            return point
        return None

    def commit_point(self, tp: TopicPartition) -> int | None:
        pending = self.in_flight.get(tp)
        if pending:
            return min(pending)
        return self.high.get(tp)

    def mark_committed(self, tp: TopicPartition, offset: int) -> None:
        self.committed[tp] = max(self.committed.get(tp, -1), offset)

    def forget(self, tps) -> None:
        for tp in tps:
            self.in_flight.pop(tp, None)
            self.high.pop(tp, None)
            self.committed.pop(tp, None)
