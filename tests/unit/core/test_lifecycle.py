import pytest

from localcore.lifecycle import Lifecycle, State


def make(events, fail=None):
    lc = Lifecycle()
    for name in ("cloud", "streams", "broker", "runtime"):
        async def start(name=name):
            if name == fail:
                raise OSError(f"{name} port in use")
            events.append(f"start {name}")

        async def stop(name=name):
            events.append(f"stop {name}")
        lc.add(name, start, stop)
    return lc


async def test_starts_in_order_and_stops_in_reverse():
    events = []
    lc = make(events)
    await lc.start()
    assert lc.state is State.STARTED
    await lc.stop()
    assert events == ["start cloud", "start streams", "start broker", "start runtime",
                      "stop runtime", "stop broker", "stop streams", "stop cloud"]
    assert lc.state is State.STOPPED


async def test_failed_start_stops_what_was_started_and_reports():
    events, seen = [], []
    lc = make(events, fail="broker")
    lc.progress = lambda name, t, ok, detail: seen.append((name, ok, detail))
    with pytest.raises(OSError):
        await lc.start()
    assert events == ["start cloud", "start streams", "stop streams", "stop cloud"]
    assert seen[-1] == ("broker", False, "OSError: broker port in use")
    assert lc.status()["services"][2]["state"] == "failed"


async def test_cannot_start_twice():
    lc = make([])
    await lc.start()
    with pytest.raises(RuntimeError):
        await lc.start()
    await lc.stop()
