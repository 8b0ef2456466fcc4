import pytest

from localcore.streams.bandwidth import BandwidthLimit, TokenBucket


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.mark.parametrize("steps,expected", [
    # (advance clock by s, reserve bytes) -> delay; rate 1000 B/s, a burst of 1 s allowed
    ([(0, 1000)], [0.0]),
    ([(0, 1000), (0, 500)], [0.0, 0.5]),
    ([(0, 1000), (0.5, 500)], [0.0, 0.0]),
    ([(0, 1000), (0.25, 500)], [0.0, 0.25]),
    ([(0, 3000)], [0.0]),                 # a batch bigger than the bucket goes when it is full
    ([(0, 3000), (0, 1000)], [0.0, 3.0]),  # ...and the next waits off its excess too
    ([(0, 3000), (2.0, 500)], [0.0, 0.5]),
    ([(10, 1000), (0, 1000)], [0.0, 1.0]),  # idle time does not bank more than one burst
])
def test_token_bucket(steps, expected):
    clock = Clock()
    bucket = TokenBucket(1000, clock)
    delays = []
    for advance, nbytes in steps:
        clock.t += advance
        delays.append(round(bucket.reserve(nbytes), 6))
    assert delays == expected


def test_rejects_a_non_positive_rate():
    with pytest.raises(ValueError):
        TokenBucket(0)


async def test_unlimited_never_waits_and_limited_waits():
    free = BandwidthLimit(None)
    await free.take(10 ** 9)
    assert free.waited_s == 0
    clock = Clock()
    limited = BandwidthLimit(8, clock)  # 8 kbit/s = 1000 B/s
    await limited.take(1000)
    await limited.take(10)
    assert limited.waited_s == pytest.approx(0.01)
