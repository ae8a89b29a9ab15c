"""Throwbox's live run events in Piston's stage terms (pure; tests/unit/test_compat_piston_mapping.py).

Throwbox's events say "running", then output tagged with its stage, then the result; Piston's
say which stage starts and how each one exits. The tracker turns the first into the second.
"""

from __future__ import annotations

import msgspec

from throwbox_common.messages import RunResult

from ..runview import RunState
from . import piston

_event = msgspec.json.Decoder(dict)


def outputs_of(st: RunState) -> piston.Outputs | None:
    """Each stage's output chunks in the order written, or None once the event log was dropped."""
    if st.events_dropped:
        return None
    out: piston.Outputs = {"compile": [], "run": []}
    for data in st.events:
        event = _event.decode(data)
        if event.get("type") in ("stdout", "stderr"):
            out.setdefault(event.get("stage", "run"), []).append((event["type"], event.get("data", "")))
    return out


def _exit(stage: str, body: dict) -> dict:
    # Piston sends code and signal; status and message are Throwbox's additions (TO, OL, ...).
    return {"type": "exit", "stage": stage, "code": body["code"], "signal": body["signal"],
            "status": body["status"], "message": body["message"]}


class StageTracker:
    def __init__(self, compiled: bool):
        self.compiled = compiled
        self.stage: str | None = None

    def _enter(self, stage: str) -> list[dict]:
        self.stage = stage
        return [{"type": "stage", "stage": stage}]

    def started(self) -> list[dict]:
        return self._enter("compile" if self.compiled else "run") if self.stage is None else []

    def output(self, stream: str, stage: str, data: str) -> list[dict]:
        messages = self.started()
        if stage == "run" and self.stage == "compile":
            # Output of the program: the compile stage ended well.
            messages.append({"type": "exit", "stage": "compile", "code": 0, "signal": None, "status": None,
                             "message": None})
            messages += self._enter("run")
        messages.append({"type": "data", "stream": stream, "data": data})
        return messages

    def finished(self, result: RunResult) -> list[dict]:
        compile_, run = piston.stages(result, self.compiled, None)
        messages: list[dict] = []
        if result.status == "failed":
            if result.error is not None:
                messages.append({"type": "error", "message": result.error.message})
            return messages
        if self.stage is None:
            messages += self.started()
        if self.stage == "compile":
            assert compile_ is not None
            messages.append(_exit("compile", compile_))
            if run is not None:
                messages += self._enter("run")
        if self.stage == "run" and run is not None:
            messages.append(_exit("run", run))
        return messages
