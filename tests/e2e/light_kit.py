"""The traffic light's flows on a shared run: the light and switch device scripts, and what the car statistics
writers (the car_aggregator Lambda, the com.ggbundle.CarStats component) logged and wrote.

Several tests drive the same light on one run (``group_run``), in any order, so each checks what its own cycles
added to what was there before it:

* ``LightCycles(run)``: the light and the switch device scripts of one test (its docstring: why the switch first
  sets the shadow's desired light to Y before the light starts), ``run_switch(cycles)`` / ``start_switch(cycles)``;
  ``wait_changes(light, cycles)``: the light's changes, exactly Y + ``cycles`` × G, Y, R. Each is reported to the
  shadow and differs from the light's previous report, so each G is one new green phase for the writers.
* ``greens(text, prefix)``: the ``green light: ...`` lines of a writer's log, checked to count 1, 2, 3, ... with
  running totals that agree with the cars (one process counted them all).
* ``expected_items(greens, per_write)``: one item per completed batch of ``per_write`` greens over all greens
  logged so far, with the running totals at its last green (as the writers put them).
* ``table_items(dynamodb, table)``: a table's items as plain values.

Test-only code.
"""
from __future__ import annotations

import random
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Dict, List, Tuple

e2e_gg = sys.modules["e2e_gg"]  # loaded by tests/e2e/conftest.py

LIGHT, SWITCH = "GG_TrafficLight", "GG_Switch"
# the light prints its change on stdout (text, then the newline: two writes) and, with -v, the SDK logs on stderr
# from its own threads into the same pipe: a whole log record may land between the two
CHANGE = r"^Light changed to: ([GYR])(?:$|(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ))"
# (-v) the SDK has subscribed to the replies of the light's shadow updates: its first update waits for that (the
# SDK subscribes on the first shadowUpdate and then sleeps 2 s); the ones after it go out at once
UPDATES_READY = r"Subscribed to update accepted/rejected topics for deviceShadow: " + LIGHT
SET = r"^Switch set light to ([GYR]) \((\w+)\)$"
LAMBDA_TABLE = "CarStats"
CAR_SEED, MIN_CARS, MAX_CARS = 99, 1, 20   # car_aggregator's RANDOM_SEED in the test group; MIN_CARS, MAX_CARS
GREENS_PER_WRITE = 3                       # car_aggregator's WRITE_EVERY_GREENS, CarStats' greensPerWrite
_GREEN = r"green light: (\d+) cars; total (\d+) over (\d+) greens \(min (\d+), max (\d+)\)"


@dataclass(frozen=True)
class Green:
    """One ``green light`` line of a writer's log."""

    cars: int
    total: int
    count: int
    min: int
    max: int


class LightCycles:
    """The light and the switch of one test: ``with LightCycles(run) as lc:`` sets the shadow's desired light to
    Y with the switch (R, G, Y; no light running), starts the light (``-v``) and returns once it has applied that
    pending Y from its sync and reported it; ``lc.start_switch(cycles)`` then cycles G, Y, R (1 s each), so the
    light's changes are exactly ``Y`` + ``cycles`` × G, Y, R (``wait_changes``), each G one new green phase.

    Why the first step: a light's first report waits ~2 s in the SDK (above); a switch set made meanwhile that
    equals the light's last report of a previous test (red) leaves desired = reported, so no delta, and the light
    never shows it (found in the shared run: G Y G Y R ... without the first R). With the Y already applied and
    reported, every set of the cycles differs from the light's report and reaches it at once.
    Leaving the block stops both devices (a failed test leaves no light running for the next one)."""

    def __init__(self, run) -> None:
        self.run = run
        self.light = None
        self.switch = None

    def __enter__(self) -> "LightCycles":
        try:
            preset = _switch(self.run, "R", 1, interval="0.1")
            check_switch(preset, list("RGY"), timeout=30)
            self.light = self.run.start_device("traffic_light.py", LIGHT, "-v")
            self.light.wait_for_line(UPDATES_READY, timeout=30)
            first = self.light.matches(CHANGE)
            assert [m.group(1) for m in first] == ["Y"], self.light.output()[-3000:]
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def start_switch(self, cycles: int) -> "e2e_gg.OutputProcess":
        self.switch = _switch(self.run, "G", cycles)
        return self.switch

    def run_switch(self, cycles: int, timeout: float = 60.0) -> "e2e_gg.OutputProcess":
        """The switch from start to exit (status 0), every one of its ``cycles`` × G, Y, R sets accepted."""
        check_switch(self.start_switch(cycles), list("GYR" * cycles), timeout)
        return self.switch

    def __exit__(self, *exc) -> None:
        for device in (self.switch, self.light):
            if device is not None and device.proc.poll() is None:
                device.stop()


def _switch(run, start: str, cycles: int, interval: str = "1") -> "e2e_gg.OutputProcess":
    return run.start_device("light_controller.py", LIGHT, "--interval", interval, "--cycles", str(cycles),
                            "--start", start, client_id=SWITCH)


def check_switch(switch, lights: List[str], timeout: float = 60.0) -> None:
    assert switch.wait_exit(timeout) == 0, switch.output()
    sets = [(m.group(1), m.group(2)) for m in switch.matches(SET)]
    assert sets == [(c, "accepted") for c in lights], switch.output()


def wait_changes(light, cycles: int, timeout: float = 15.0) -> List[str]:
    """The light's changes once there are 1 + 3 × ``cycles``: exactly its sync's Y and the switch's cycles."""
    want = ["Y"] + list("GYR" * cycles)

    def done():
        changes = [m.group(1) for m in light.matches(CHANGE)]
        return changes if len(changes) >= len(want) else None

    try:
        changes = e2e_gg.wait_for(done, timeout, f"the light to change {''.join(want)}", interval=0.1)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- light:\n{light.output()[-3000:]}") from None
    assert changes == want, (changes, light.output()[-3000:])
    return changes


def greens(text: str, prefix: str = "") -> List[Green]:
    found = [Green(*(int(x) for x in m.groups())) for m in re.finditer(re.escape(prefix) + _GREEN, text)]
    traffic, low, high = 0, None, None
    for n, g in enumerate(found, 1):
        traffic += g.cars
        low = g.cars if low is None else min(low, g.cars)
        high = g.cars if high is None else max(high, g.cars)
        assert (g.count, g.total, g.min, g.max) == (n, traffic, low, high), (n, found)
    return found


def car_draws(n: int) -> List[int]:
    """The first ``n`` car counts the Lambda draws (one per green, for the life of its process)."""
    rng = random.Random(CAR_SEED)
    return [rng.randint(MIN_CARS, MAX_CARS) for _ in range(n)]


STAT_KEYS = ("TotalTraffic", "TotalGreenlights", "MinCarsPassing", "MaxCarsPassing")


def expected_items(logged: List[Green], per_write: int = GREENS_PER_WRITE) -> List[Dict[str, int]]:
    return [{"TotalTraffic": g.total, "TotalGreenlights": g.count, "MinCarsPassing": g.min,
             "MaxCarsPassing": g.max} for g in logged if g.count % per_write == 0]


def table_items(dynamodb, table: str) -> List[Dict[str, object]]:
    items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    return [{k: next(iter(v.values())) for k, v in i.items()} for i in items]


def stats_of(item: Dict[str, object]) -> Dict[str, int]:
    return {k: int(item[k]) for k in STAT_KEYS}


def by_greens(items: List[Dict[str, object]]) -> List[Dict[str, int]]:
    """The items' statistics in the order of their green counts."""
    return sorted((stats_of(i) for i in items), key=lambda s: s["TotalGreenlights"])


@dataclass
class LambdaBefore:
    """What the car_aggregator Lambda had logged and written before a test drove the light."""

    greens: List[Green]
    items: List[Dict[str, object]]


def lambda_log(run) -> str:
    path = run.function_log("car_aggregator")
    return path.read_text(errors="replace") if path.exists() else ""


def lambda_before(run, timeout: float = 20.0) -> LambdaBefore:
    """The Lambda's greens so far and its items, once the items of those greens are written (it logs a green
    before it puts that green's item)."""
    logged = greens(lambda_log(run))
    items = wait_items(run.client("dynamodb"), LAMBDA_TABLE, len(expected_items(logged)), timeout)
    assert by_greens(items) == expected_items(logged), (items, logged)
    return LambdaBefore(logged, items)


def wait_items(dynamodb, table: str, count: int, timeout: float) -> List[Dict[str, object]]:
    """The table's items once there are at least ``count`` (at once when ``count`` is 0)."""
    if not count:
        return table_items(dynamodb, table)

    def written():
        got = table_items(dynamodb, table)
        return got if len(got) >= count else None

    return e2e_gg.wait_for(written, timeout, f"{count} item(s) in {table}")


def check_lambda(run, before: LambdaBefore, new_greens: int, timeout: float = 20.0) -> Tuple[List[Green], list]:
    """The Lambda logged ``new_greens`` more greens, their cars the next draws of its seeded generator, and its
    table holds one item per completed batch of 3 over all its greens (the ones before kept), each with the
    totals at the batch's last green. Returns (greens, items)."""
    dynamodb = run.client("dynamodb")
    want = len(before.greens) + new_greens

    def logged():
        found = greens(lambda_log(run))
        return found if len(found) >= want else None

    try:
        found = e2e_gg.wait_for(logged, timeout, f"car_aggregator's log of {want} greens")
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- car_aggregator log:\n{lambda_log(run)[-3000:]}") from None
    assert len(found) == want, (len(before.greens), new_greens, found)
    assert found[:len(before.greens)] == before.greens
    assert [g.cars for g in found] == car_draws(want), found
    expected = expected_items(found)
    items = wait_items(dynamodb, LAMBDA_TABLE, len(expected), timeout)
    assert by_greens(items) == expected, (items, found)
    assert all(i in items for i in before.items), (before.items, items)
    for item in items:
        assert "Writer" not in item, item   # the component writes its own table only
        datetime.fromisoformat(str(item["Time"]))
    return found, items

