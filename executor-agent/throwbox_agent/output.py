"""Output of one run: the byte cap, what the result keeps, coalescing into Output records, and
sending them (`OutputSink`)."""

from __future__ import annotations

import asyncio
import codecs
import logging
import math
import time
from dataclasses import dataclass, field

import msgspec

from throwbox_common.messages import Output, RunTestEnded

from .run_seams import Publisher

log = logging.getLogger(__name__)

COALESCE_BYTES = 64 * 1024
COALESCE_S = 0.010


@dataclass
class OutputCap:
    """stdout + stderr of both stages count against one cap of `limit_bytes`."""

    limit_bytes: int
    total: int = 0
    exceeded: bool = False

    def admit(self, data: bytes) -> bytes:
        """The part of `data` that still fits; sets `exceeded` when something was cut off."""
        room = self.limit_bytes - self.total
        if len(data) > room:
            self.exceeded = True
            data = data[:max(room, 0)]
        self.total += len(data)
        return data


@dataclass
class Coalescer:
    """Consecutive chunks of the same (stage, stream) become one record, decoded as UTF-8
    incrementally (a multi-byte character split across chunks is not mangled)."""

    segments: list[tuple[str, str, bytearray]] = field(default_factory=list)
    size: int = 0
    _decoders: dict[tuple[str, str], codecs.IncrementalDecoder] = field(default_factory=dict)

    def add(self, stage: str, stream: str, data: bytes) -> None:
        if not data:
            return
        if self.segments and self.segments[-1][:2] == (stage, stream):
            self.segments[-1][2].extend(data)
        else:
            self.segments.append((stage, stream, bytearray(data)))
        self.size += len(data)

    def take(self, final: bool = False) -> list[tuple[str, str, str]]:
        out = []
        for stage, stream, data in self.segments:
            dec = self._decoders.setdefault((stage, stream),
                                            codecs.getincrementaldecoder("utf-8")(errors="replace"))
            text = dec.decode(bytes(data), final=final)
            if text:
                out.append((stage, stream, text))
        if final:
            for (stage, stream), dec in self._decoders.items():
                tail = dec.decode(b"", final=True)
                if tail:
                    out.append((stage, stream, tail))
            self._decoders.clear()
        self.segments = []
        self.size = 0
        return out


class OutputSink:
    """One run's output: the run's cap, what the result keeps, coalescing, and one sender that
    keeps the run's records in order. Chunks are best-effort: once one could not be handed to
    Kafka (its buffer stayed full while the broker was away), the run's later chunks are
    dropped, so an outage does not hold the result back; the result carries the whole output."""

    def __init__(self, run_id: str, limit_bytes: int, publisher: Publisher):
        self.run_id = run_id
        self.cap = OutputCap(limit_bytes)
        self.kept: dict[tuple[str, str], bytearray] = {
            (s, t): bytearray() for s in ("compile", "run") for t in ("stdout", "stderr")}
        self.truncated = {"stdout": False, "stderr": False}
        self.dropped = False                 # a chunk could not be handed to Kafka: later ones neither
        # Tests mode: the test the run's output belongs to (the running one, else the last one).
        self.test: int | msgspec.UnsetType = msgspec.UNSET
        self._publisher = publisher
        self._coalescer = Coalescer()
        self._wakeup = asyncio.Event()
        self._last_flush = -math.inf         # monotonic time of the last flush (none yet)
        self._outbox: asyncio.Queue[Output | RunTestEnded | None] = asyncio.Queue()
        self._sender: asyncio.Task | None = None

    def add(self, stage: str, stream: str, data: bytes, test_cap: OutputCap | None = None) -> bytes:
        """The part of `data` within the test's cap (if any) and the run's, coalesced to be sent;
        the run's own output (no test) is kept for the result as well."""
        kept = self.cap.admit(test_cap.admit(data) if test_cap is not None else data)
        if test_cap is None:
            self.kept[(stage, stream)] += kept
            self.truncated[stream] |= self.cap.exceeded
        self._coalescer.add(stage, stream, kept)
        return kept

    def pace(self, now: bool = False) -> None:
        """After output was added: flush now (`now`, a full buffer, or output after a quiet
        spell: the leading edge), else within COALESCE_S (a flood still makes few records)."""
        if now or self._coalescer.size >= COALESCE_BYTES:
            self.flush()
        elif not self._wakeup.is_set() and time.monotonic() - self._last_flush >= COALESCE_S:
            self.flush()
        else:
            self._wakeup.set()

    def flush(self, final: bool = False) -> None:
        """Coalesced output becomes Output records; `final` at the end of a test (its last
        characters are not held for the next test's)."""
        self._last_flush = time.monotonic()
        for record in self._records(self._coalescer.take(final=final), self.test):
            self._outbox.put_nowait(record)
        self._start_sender()

    def send(self, record: RunTestEnded) -> None:
        """A record in the run's order, after the output flushed before it."""
        self._outbox.put_nowait(record)
        self._start_sender()

    async def flush_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            await asyncio.sleep(COALESCE_S)
            self._wakeup.clear()
            self.flush()

    def take_last(self) -> list[Output | RunTestEnded]:
        """The run's output ended: what its sender has not taken yet (queued, and the coalescer's
        rest) is kept to go out with Finished, in the same produce request (handed over alone,
        it could still be in flight when Finished is queued, and Finished would wait a round trip
        behind it). The sender stops after the chunk it may be sending. No await: the sender
        must not take a chunk meanwhile."""
        last: list[Output | RunTestEnded] = []
        while not self._outbox.empty():
            record = self._outbox.get_nowait()
            if record is not None:
                last.append(record)
        last += self._records(self._coalescer.take(final=True))
        if self._sender is not None:
            self._outbox.put_nowait(None)
        return last

    async def sent(self) -> None:
        """The chunk the sender may still be handing over is handed over."""
        if self._sender is not None:
            await self._sender

    def stop(self) -> None:
        """No result follows: the chunks not sent yet are not sent."""
        if self._sender is not None and not self._sender.done():
            self._sender.cancel()

    def _records(self, taken: list[tuple[str, str, str]],
                 test: int | msgspec.UnsetType = msgspec.UNSET) -> list[Output]:
        return [Output(run_id=self.run_id, stream=stream, stage=stage, data=text,  # type: ignore[arg-type]
                       test=test if stage == "run" else msgspec.UNSET)
                for stage, stream, text in taken]

    def _start_sender(self) -> None:
        if self._sender is None and not self._outbox.empty():
            self._sender = asyncio.create_task(self._send(), name=f"send-{self.run_id}")

    async def _send(self) -> None:
        while True:
            event = await self._outbox.get()
            if event is None:
                return
            if self.dropped:
                continue
            try:
                await self._publisher.publish(event)
            except Exception as e:   # a lost chunk must not lose the run; the result has it all
                self.dropped = True
                log.warning("run %s: publishing output: %s; its further output goes only into the result",
                            self.run_id, e)
