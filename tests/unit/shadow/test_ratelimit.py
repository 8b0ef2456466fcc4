"""The ShadowManager's rate limiters, driven by an explicit clock."""
import pytest

from localcore.shadow.errors import ThrottledRequest
from localcore.shadow.ratelimit import InboundLimiter, OutboundLimiter, WindowLimiter


def test_window_limiter_counts_per_window_from_its_first_request():
    lim = WindowLimiter(2, now=0.0)
    assert [lim.try_acquire(t) for t in (0.1, 0.2, 0.3, 0.99)] == [True, True, False, False]
    assert lim.try_acquire(1.0)            # a new window starts at the request that finds the old one over
    assert lim.try_acquire(1.5) and not lim.try_acquire(1.9)
    assert lim.try_acquire(2.0)


def test_window_limiter_new_rate_scales_the_count():
    lim = WindowLimiter(4, now=0.0)
    for t in (0.1, 0.2):
        assert lim.try_acquire(t)
    lim.set_rate(2)                         # 2 of 4 → 1 of 2
    assert lim.count == 1
    assert lim.try_acquire(0.3) and not lim.try_acquire(0.4)


def test_inbound_total_then_per_thing():
    lim = InboundLimiter(total_rate=3, per_thing_rate=1, now=0.0)
    lim.acquire("A", 0.1)
    with pytest.raises(ThrottledRequest, match="^Local shadow request throttled for thing$"):
        lim.acquire("A", 0.2)              # A's own limit (the refusal still took a permit of the total)
    lim.acquire("B", 0.3)
    with pytest.raises(ThrottledRequest, match="^Max total local shadow request rate exceeded$"):
        lim.acquire("C", 0.4)
    lim.acquire("C", 1.1)                  # next second
    lim.acquire("A", 1.2)
    lim.acquire(None, 1.3)                 # no thing name: not limited (its name check refuses it)
    lim.acquire("", 1.3)


def test_inbound_keeps_limiters_for_as_many_things_as_the_total_rate():
    lim = InboundLimiter(total_rate=2, per_thing_rate=1, now=0.0)
    lim.acquire("A", 0.0)
    lim.acquire("B", 1.0)
    lim.acquire("C", 2.0)                  # A's limiter is dropped (eldest)
    assert list(lim.things) == ["B", "C"]


def test_inbound_update_applies_to_existing_things():
    lim = InboundLimiter(total_rate=10, per_thing_rate=1, now=0.0)
    lim.acquire("A", 0.0)
    lim.update(10, 3)                      # the window's count scales with the rate: 1 of 1 → 3 of 3
    with pytest.raises(ThrottledRequest):
        lim.acquire("A", 0.1)
    for t in (1.0, 1.1, 1.2):              # the next window has the new rate
        lim.acquire("A", t)
    with pytest.raises(ThrottledRequest):
        lim.acquire("A", 1.3)


def test_outbound_is_smooth_and_bursty():
    lim = OutboundLimiter(2, now=0.0)
    assert lim.reserve(0.0) == 0.0         # the first permit is free
    assert lim.reserve(0.0) == pytest.approx(0.5)
    assert lim.reserve(0.0) == pytest.approx(1.0)
    # after a long idle time at most one second of permits is stored (2), then it is 1/rate apart again
    assert [lim.reserve(10.0) for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.5])


def test_outbound_new_rate():
    lim = OutboundLimiter(1, now=0.0)
    assert lim.reserve(0.0) == 0.0
    assert lim.reserve(0.0) == pytest.approx(1.0)
    lim.set_rate(10, now=2.0)
    assert lim.reserve(2.0) == 0.0
    assert lim.reserve(2.0) == pytest.approx(0.1)
