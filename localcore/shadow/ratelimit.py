"""The ShadowManager's rate limiters (pure: the caller passes the time, in seconds of a monotonic clock).

* :class:`WindowLimiter` — ``ipc/IpcRateLimiter``: at most ``rate`` permits in a one-second window that starts
  at the first request after the previous window ended; a new rate scales the window's count.
* :class:`InboundLimiter` — ``ipc/InboundRateLimiter``: every local IPC request takes a permit of the total limiter
  (``maxTotalLocalRequestsRate``), then one of its thing's (``maxLocalRequestsPerSecondPerThing``); the per-thing
  limiters are kept for the ``maxTotalLocalRequestsRate`` most recently added things. A refusal is
  :class:`~localcore.shadow.errors.ThrottledRequest` with the component's text.
* :class:`OutboundLimiter` — the Guava ``RateLimiter`` (smooth bursty, one second of stored permits) the
  component's data-plane client acquires before every cloud call (``maxOutboundSyncUpdatesPerSecond``): the
  caller waits the returned number of seconds.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional

from localcore.shadow.errors import ThrottledRequest

WINDOW_S = 1.0


class WindowLimiter:
    def __init__(self, rate: int, now: float) -> None:
        self.rate = rate
        self.count = 0
        self.window_start = now

    def set_rate(self, rate: int) -> None:
        self.count = self.count * rate // self.rate
        self.rate = rate

    def try_acquire(self, now: float) -> bool:
        if now - self.window_start >= WINDOW_S:
            self.count = 1
            self.window_start = now
            return True
        if self.count < self.rate:
            self.count += 1
            return True
        return False


class InboundLimiter:
    def __init__(self, total_rate: int, per_thing_rate: int, now: float) -> None:
        self.total_rate = total_rate
        self.per_thing_rate = per_thing_rate
        self.total = WindowLimiter(total_rate, now)
        self.things: "OrderedDict[str, WindowLimiter]" = OrderedDict()

    def update(self, total_rate: int, per_thing_rate: int) -> None:
        """New limits (a configuration change): the windows under way are scaled, not restarted."""
        self.total_rate = total_rate
        self.total.set_rate(total_rate)
        self.per_thing_rate = per_thing_rate
        for limiter in self.things.values():
            limiter.set_rate(per_thing_rate)

    def clear(self) -> None:
        self.things.clear()

    def acquire(self, thing: Optional[str], now: float) -> None:
        """Take a permit for a request on ``thing``; raises ThrottledRequest when over a limit. No thing name: no
        limit (the request fails its name check next)."""
        if not thing:
            return
        if not self.total.try_acquire(now):
            raise ThrottledRequest("Max total local shadow request rate exceeded")
        limiter = self.things.get(thing)
        if limiter is None:
            limiter = self.things[thing] = WindowLimiter(self.per_thing_rate, now)
            while len(self.things) > self.total_rate:    # the component's map drops its eldest entry
                self.things.popitem(last=False)
        if not limiter.try_acquire(now):
            raise ThrottledRequest("Local shadow request throttled for thing")


class OutboundLimiter:
    """Smooth bursty: one permit every ``1/rate`` seconds, up to ``rate`` permits stored while idle."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = float(rate)
        self.stored = 0.0
        self.next_free = now

    def _resync(self, now: float) -> None:
        if now > self.next_free:
            self.stored = min(self.rate, self.stored + (now - self.next_free) * self.rate)
            self.next_free = now

    def set_rate(self, rate: float, now: float) -> None:
        self._resync(now)
        old = self.rate
        self.rate = float(rate)
        self.stored = self.stored * self.rate / old if old else 0.0

    def reserve(self, now: float) -> float:
        """Take one permit; returns how long the caller must wait before using it (0 when free now)."""
        self._resync(now)
        wait = self.next_free - now
        from_store = min(1.0, self.stored)
        self.stored -= from_store
        self.next_free += (1.0 - from_store) / self.rate
        return max(0.0, wait)
