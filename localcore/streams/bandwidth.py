"""The exporters' shared bandwidth limit (``STREAM_MANAGER_EXPORTER_MAX_BANDWIDTH``, kilobits/s).

A token bucket holding one second's worth: uploads wait until their bytes are covered, so the
average rate stays at the limit. A batch bigger than the bucket goes out at once when the bucket
is full (a batch cannot be split) and its excess is debt the next uploads wait for.
"""
from __future__ import annotations

import asyncio
import time
from typing import Callable, Optional


class TokenBucket:
    """``reserve(nbytes)`` → seconds the caller must wait before sending ``nbytes``."""

    def __init__(self, bytes_per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if bytes_per_s <= 0:
            raise ValueError(f"bandwidth must be > 0 bytes/s, got {bytes_per_s}")
        self.rate = float(bytes_per_s)
        self._clock = clock
        self._tokens = self.rate  # a full bucket: one second's worth
        self._last = clock()

    def reserve(self, nbytes: int) -> float:
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
        self._last = now
        full = self._tokens >= self.rate
        self._tokens -= nbytes  # may go negative: the debt is what callers wait for
        if full or self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate


class BandwidthLimit:
    """Async wrapper shared by every exporter of one stream manager; ``None`` limit = unlimited."""

    def __init__(self, kilobits_per_s: Optional[int], clock: Callable[[], float] = time.monotonic) -> None:
        self.kilobits_per_s = kilobits_per_s
        self._bucket = TokenBucket(kilobits_per_s * 1000 / 8, clock) if kilobits_per_s else None
        self.waited_s = 0.0

    async def take(self, nbytes: int) -> None:
        if self._bucket is None or nbytes <= 0:
            return
        delay = self._bucket.reserve(nbytes)
        if delay > 0:
            self.waited_s += delay
            await asyncio.sleep(delay)
