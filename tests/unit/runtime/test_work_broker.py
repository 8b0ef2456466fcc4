"""WorkBroker: queues, long-polls, results (pure asyncio bookkeeping)."""
from __future__ import annotations

import asyncio

import pytest

from localcore.lambda_ipc.errors import Forbidden, QueueFull, UnknownFunction, UnknownInvocation
from localcore.lambda_ipc.work import EVENT, Result, WorkBroker


def broker(**kw) -> WorkBroker:
    b = WorkBroker(**kw)
    b.add_function("f")
    return b


async def test_queued_work_goes_to_the_next_poll_and_the_result_back():
    queued = []
    b = broker(on_queued=queued.append)
    inv = b.submit("f", b"{}", source="device:D")
    assert queued == ["f"] and b.pending("f") == 1
    got = await b.next_work("f", "i1", wait_s=1)
    assert got is inv and inv.instance == "i1" and b.running("f") == {"i1": inv}
    b.finish("f", "i1", inv.id, Result(b"42", ""))
    assert await b.result(inv.id, "f", wait_s=1) == Result(b"42", "")
    with pytest.raises(UnknownInvocation):
        await b.result(inv.id, "f", wait_s=1)  # fetched once, then forgotten


async def test_waiting_instance_gets_work_without_queueing():
    queued = []
    b = broker(on_queued=queued.append)
    poll = asyncio.create_task(b.next_work("f", "i1", wait_s=5))
    await asyncio.sleep(0)  # let the poll register
    assert b.idle("f") == ["i1"]
    inv = b.submit("f", b"1", invocation_type=EVENT)
    assert await poll is inv and queued == []


async def test_empty_poll_returns_none_after_its_bound():
    b = broker()
    assert await b.next_work("f", "i1", wait_s=0.01) is None
    assert b.idle("f") == []


async def test_fail_instance_answers_unhandled_and_ends_its_poll():
    b = broker()
    inv = b.submit("f", b"1")
    await b.next_work("f", "i1", wait_s=1)
    b.fail_instance("f", "i1", Result(b'{"errorMessage": "crash"}', "Unhandled"))
    assert (await b.result(inv.id, "f", 1)).function_error == "Unhandled"
    with pytest.raises(UnknownInvocation):
        b.finish("f", "i1", inv.id, Result(b"late", ""))  # a late answer is refused


async def test_retired_instance_gets_no_work():
    b = broker()
    poll = asyncio.create_task(b.next_work("f", "i1", wait_s=5))
    await asyncio.sleep(0)
    b.retire("f", "i1")
    assert await poll is None
    b.submit("f", b"1")
    assert await b.next_work("f", "i1", wait_s=0.01) is None and b.pending("f") == 1


async def test_queue_limit_unknown_function_and_foreign_result():
    b = broker(max_queue=1)
    b.add_function("g")
    b.submit("f", b"1")
    with pytest.raises(QueueFull, match="'f'"):
        b.submit("f", b"2")
    with pytest.raises(UnknownFunction):
        b.submit("nope", b"1")
    inv = b.submit("g", b"1")
    with pytest.raises(Forbidden):
        await b.result(inv.id, "f", 1)


async def test_close_answers_everything():
    b = broker()
    queued = b.submit("f", b"1")
    b.submit("f", b"2")
    running = await b.next_work("f", "i1", wait_s=1)
    b.close(Result(b"stop", "Unhandled"))
    assert running.result().function_error == "Unhandled"
    assert all(i.done for i in (queued, running))
    with pytest.raises(QueueFull):
        b.submit("f", b"3")
