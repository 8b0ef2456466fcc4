import asyncio

from localcore.interfaces import Message
from localcore.router.cloud import CloudSink


async def test_spools_while_down_then_forwards_in_order():
    sent, up = [], asyncio.Event()
    done = asyncio.Event()

    async def send(topic, payload, qos):
        if not up.is_set():
            raise ConnectionError("cloud down")
        sent.append((topic, payload, qos))
        if len(sent) == 3:
            done.set()

    sink = CloudSink(send, max_messages=3, retry_initial_s=0.01, retry_max_s=0.02)
    await sink.start()
    try:
        for i in range(5):
            sink.deliver(Message("device:A", f"t/{i}", b"p%d" % i, 1))
        await asyncio.sleep(0)  # let the drain task hit the failure
        st = sink.status()
        assert st["dropped"] == 2 and st["spooled"] == 3
        up.set()
        await asyncio.wait_for(done.wait(), 5)
        assert [t for t, _, _ in sent] == ["t/2", "t/3", "t/4"]
        assert sink.status()["connected"] is True and sink.status()["failures"] >= 1
    finally:
        await sink.stop()


async def test_plain_callable_runs_in_thread_and_thread_delivery_works():
    got = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def send(topic, payload, qos):
        loop.call_soon_threadsafe(got.put_nowait, (topic, payload))

    sink = CloudSink(send)
    await sink.start()
    try:
        await asyncio.to_thread(sink.deliver, Message("function:f", "x/y", b"1"))
        assert await asyncio.wait_for(got.get(), 5) == ("x/y", b"1")
        # send() has returned in its thread; the sink counts it once that thread hands back
        for _ in range(500):
            if sink.status()["sent"] == 1:
                break
            await asyncio.sleep(0.01)
        assert sink.status()["sent"] == 1
    finally:
        await sink.stop()


async def test_byte_bound():
    async def send(topic, payload, qos):
        raise ConnectionError("down")

    sink = CloudSink(send, max_bytes=10, retry_initial_s=5)
    await sink.start()
    try:
        sink.deliver(Message("cloud", "a", b"123456"))
        sink.deliver(Message("cloud", "b", b"123456"))
        sink.deliver(Message("cloud", "c", b"x" * 11))
        st = sink.status()
        assert st["spooled_bytes"] <= 10 and st["dropped"] == 2
    finally:
        await sink.stop()
