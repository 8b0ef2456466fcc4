"""localcore.run._close_loop: the run's end waits a bounded time for blocking calls still in the default executor
(asyncio.run waits for ever: a call the cloud never answered held a run's exit) and names the ones left."""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time

from localcore.run import _close_loop


def _loop_with_executor():
    loop = asyncio.new_event_loop()
    executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="test-blocking")
    loop.set_default_executor(executor)
    return loop, executor


def test_a_call_still_blocked_is_left_behind_after_the_wait_and_named():
    loop, executor = _loop_with_executor()
    release = threading.Event()
    started = threading.Event()

    def waits_for_an_answer():
        started.set()
        release.wait(30)

    async def main():
        loop.run_in_executor(None, waits_for_an_answer)
        await asyncio.to_thread(started.wait, 5)

    loop.run_until_complete(main())
    t0 = time.monotonic()
    try:
        busy = _close_loop(loop, executor, wait_s=0.3)
        took = time.monotonic() - t0
    finally:
        release.set()
    assert took < 2.0
    assert len(busy) == 1 and "waits_for_an_answer" in busy[0]
    assert loop.is_closed()


def test_finished_calls_and_pending_tasks_end_cleanly():
    loop, executor = _loop_with_executor()
    cancelled = []

    async def forever():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main():
        loop.create_task(forever())
        assert await asyncio.to_thread(lambda: 42) == 42
        await asyncio.sleep(0)

    loop.run_until_complete(main())
    assert _close_loop(loop, executor, wait_s=5.0) == []
    assert cancelled == [True] and loop.is_closed()
