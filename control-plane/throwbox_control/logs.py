"""JSON structured logs on stderr: one object per line, with run ids and other extras."""

from __future__ import annotations

import logging
import sys
import time

import msgspec

_STD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_enc = msgspec.json.Encoder()


class JsonFormatter(logging.Formatter):
    def __init__(self, instance: str = ""):
        super().__init__()
        self.instance = instance

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if self.instance:
            out["instance"] = self.instance
        for k, v in vars(record).items():
            if k not in _STD and not k.startswith("_"):
                out[k] = v if isinstance(v, str | int | float | bool | None) else repr(v)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return _enc.encode(out).decode()


class RepeatFilter(logging.Filter):
    """Let a library's identical message through once per `every_s` (aiokafka logs every retry
    of an unreachable broker at ERROR: thousands of lines a minute)."""

    def __init__(self, prefixes: tuple[str, ...] = ("aiokafka", "kafka"), every_s: float = 10.0):
        super().__init__()
        self.prefixes = prefixes
        self.every_s = every_s
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefixes):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self.every_s:
            return False
        if len(self._last) > 1000:
            self._last.clear()
        self._last[key] = now
        return True


def setup(level: str, instance: str = "") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(instance))
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel("WARNING")
    for name in ("sanic.root", "sanic.error", "sanic.access", "sanic.server", "sanic.websockets"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("sanic.access").setLevel("WARNING")
