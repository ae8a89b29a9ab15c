"""Output of one run: the byte cap, what the result keeps, and coalescing into Output records."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

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
