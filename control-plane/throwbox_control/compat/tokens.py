"""Judge0 tokens: a UUID (version 4 layout, as Judge0 clients validate it) that carries the run id.

The 24 hex digits of `run_<hex>` plus 6 hex digits of "slot" (0 = the whole run; i+1 = test i of
a run with tests, for a batch that later becomes one run) fill the UUID's 30 free hex digits, so
a token maps back to its run with no store. Ownership is still checked on every read.
"""

from __future__ import annotations

import re

_RUN_HEX = re.compile(r"^run_([0-9a-f]{24})$")
_TOKEN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$")
MAX_SLOT = 0xFFFFFF


def token_for(run_id: str, slot: int = 0) -> str:
    m = _RUN_HEX.match(run_id)
    if m is None or not 0 <= slot <= MAX_SLOT:
        raise ValueError(f"cannot make a token of {run_id!r} slot {slot}")
    h = m.group(1) + f"{slot:06x}"                     # 30 hex digits
    u = h[:12] + "4" + h[12:15] + "8" + h[15:]         # version 4, RFC 4122 variant
    return f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}"


def run_of(token: str) -> tuple[str, int] | None:
    """(run id, slot) of a token this server made, or None for anything else."""
    t = token.strip().lower()
    if not _TOKEN.match(t):
        return None
    u = t.replace("-", "")
    h = u[:12] + u[13:16] + u[17:]
    return "run_" + h[:24], int(h[24:], 16)
