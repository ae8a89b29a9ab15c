"""Server-Sent Events framing."""

from __future__ import annotations


def sse_event(seq: int, data: bytes) -> bytes:
    """One event: its seq as the SSE id (so Last-Event-ID resumes), the JSON on one data line."""
    # JSON from msgspec never contains a raw newline, so one data line is enough.
    return b"id: %d\ndata: %s\n\n" % (seq, data)


def sse_comment(text: str = "keep-alive") -> bytes:
    return b": " + text.encode() + b"\n\n"


def parse_after(query_after: str | None, last_event_id: str | None) -> int | None:
    """The seq a client already has: ?after=N wins over Last-Event-ID. None means invalid."""
    raw = query_after if query_after is not None else last_event_id
    if raw is None or raw == "":
        return 0
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 12:
        return None
    return int(raw)
