"""What the agent knows about runs from throwbox.events and its own bookkeeping (pure parts)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import msgspec


class _Peek(msgspec.Struct):
    """The few fields of an events record the ledger needs (output data and results are skipped)."""

    type: str
    run_id: str
    agent: str = ""
    sandbox: str = ""
    at_ms: int = 0


peek_decoder = msgspec.json.Decoder(_Peek)


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
            rec = peek_decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return
        self.note(rec)

    def note(self, rec: _Peek) -> None:
        """Learn from one decoded events record (the event-log reader decodes with peek_decoder)."""
        if rec.type == "result":
            self.finished.put(rec.run_id)
            self.started.pop(rec.run_id)
        elif rec.type == "status" and rec.run_id not in self.finished:
            self.started.put(rec.run_id, StartedBy(rec.agent, rec.sandbox, rec.at_ms))

    def is_finished(self, run_id: str) -> bool:
        return run_id in self.finished

    def started_by(self, run_id: str) -> StartedBy | None:
        return self.started.get(run_id)


