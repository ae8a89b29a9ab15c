"""throwbox_common.aio.cancel_and_wait: every task ends, none of their errors reaches the stopper."""

import asyncio

from throwbox_common.aio import cancel_and_wait


async def test_tasks_are_cancelled_and_awaited_and_their_errors_stay_theirs():
    async def forever():
        await asyncio.Event().wait()

    async def failing():
        raise RuntimeError("its own problem")

    waiting, failed = asyncio.create_task(forever()), asyncio.create_task(failing())
    await asyncio.sleep(0)
    await cancel_and_wait(waiting, None, failed)
    assert waiting.cancelled() and failed.done() and isinstance(failed.exception(), RuntimeError)


async def test_nothing_to_stop_is_fine():
    await cancel_and_wait()
    await cancel_and_wait(None)
