"""An executor agent's capacity per runtime, as it travels in its Consul service meta.

The agent writes it, every control-plane instance reads it (admission's queue bound). Consul
limits service meta to 64 keys of at most 512 characters, so the figures of every runtime are
packed into a few `cap_<n>` values: space-separated `<runtime key>=<idle>/<size>/<runs per s>`.
"""

from __future__ import annotations

import re

import msgspec

CHUNK_CHARS = 500
KEY_PREFIX = "cap_"
_ENTRY = re.compile(r"^([\w.+-]+)=(\d+)/(\d+)/(\d+(?:\.\d+)?)$")


class RuntimeCapacity(msgspec.Struct, frozen=True):
    idle: int                  # warm sandboxes ready now
    size: int                  # warm sandboxes the agent keeps
    start_rate_per_s: float    # runs it starts per second with a backlog (measured, or the prior)


def encode(figures: dict[str, RuntimeCapacity]) -> dict[str, str]:
    chunks: list[str] = []
    current = ""
    for key in sorted(figures):
        f = figures[key]
        entry = f"{key}={f.idle}/{f.size}/{f.start_rate_per_s:.2f}"
        if current and len(current) + 1 + len(entry) > CHUNK_CHARS:
            chunks.append(current)
            current = ""
        current = f"{current} {entry}" if current else entry
    if current:
        chunks.append(current)
    return {f"{KEY_PREFIX}{i}": chunk for i, chunk in enumerate(chunks)}


def decode(meta: dict[str, str]) -> dict[str, RuntimeCapacity] | None:
    """The figures, or None when the meta carries none or any entry is unreadable."""
    keys = sorted((k for k in meta if k.startswith(KEY_PREFIX) and k[len(KEY_PREFIX):].isdigit()),
                  key=lambda k: int(k[len(KEY_PREFIX):]))
    if not keys:
        return None
    out: dict[str, RuntimeCapacity] = {}
    for k in keys:
        for entry in meta[k].split():
            m = _ENTRY.match(entry)
            if m is None:
                return None
            out[m.group(1)] = RuntimeCapacity(int(m.group(2)), int(m.group(3)), float(m.group(4)))
    return out
