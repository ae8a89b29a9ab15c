"""asyncio helpers the control plane and the agent share."""

from __future__ import annotations

import asyncio


async def cancel_and_wait(*tasks: asyncio.Task | None) -> None:
    """Cancel the tasks (None: skipped) and wait until every one has ended, whatever it ended
    with: a task's own error is its to log, not the stopper's."""
    live = [t for t in tasks if t is not None]
    for t in live:
        t.cancel()
    await asyncio.gather(*live, return_exceptions=True)
