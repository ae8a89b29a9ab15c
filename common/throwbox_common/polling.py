"""Waiting for something to become true, by polling under a deadline (tests, benchmarks, tools).

Never a fixed sleep: the machine may be a loaded 2-core VM, so callers give generous deadlines
and return as soon as the condition holds. Blocking; from async code use `asyncio.to_thread`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.25, *,
               retry_on: tuple[type[Exception], ...] = (), error: type[Exception] = AssertionError) -> T:
    """Call `check()` every `interval_s` until it returns something truthy, and return that.

    An exception of a type in `retry_on` counts as "not yet" (the last one is named in the
    failure); any other propagates at once. After `timeout_s`, raises `error` saying what was
    awaited.
    """
    end = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except retry_on as e:
            last_error = e
        if time.monotonic() > end:
            raise error(f"timed out after {timeout_s:.0f}s waiting for {what}"
                        + (f" (last error: {last_error!r})" if last_error else ""))
        time.sleep(interval_s)
