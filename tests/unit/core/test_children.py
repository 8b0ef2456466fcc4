import asyncio
import os
import time
import sys

from localcore.children import Children, ChildSpec

SLEEPER = "import signal, sys, time\nprint('up', flush=True)\ntime.sleep(60)\n"
STUBBORN = ("import signal, time\nsignal.signal(signal.SIGTERM, lambda *a: None)\n"
            "print('up', flush=True)\ntime.sleep(60)\n")


async def test_children_log_and_stop(tmp_path):
    kids = Children(tmp_path / "logs")
    await kids.start(ChildSpec("polite", [sys.executable, "-c", SLEEPER], str(tmp_path), {"X": "1"}))
    await kids.start(ChildSpec("stubborn", [sys.executable, "-c", STUBBORN], str(tmp_path)))
    pids = kids.pids()
    for name in ("polite", "stubborn"):  # both have installed their handlers once they print
        log = tmp_path / "logs" / f"{name}.log"
        for _ in range(250):
            if log.exists() and b"up" in log.read_bytes():
                break
            await asyncio.sleep(0.02)
        assert b"up" in log.read_bytes()
    assert all(s["running"] for s in kids.status())
    t0 = time.monotonic()
    await kids.stop(timeout=1.0)
    assert 0.9 < time.monotonic() - t0 < 5  # the stubborn one needed SIGKILL after the timeout
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        assert not alive, f"pid {pid} survived stop()"
    assert (tmp_path / "logs" / "polite.log").exists()
