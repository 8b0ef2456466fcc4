"""com.ggbundle.CarStats (components/car_stats) under ``deploy.py run --platform v2``, beside the car_aggregator
Lambda, fed by the real traffic light and switch device scripts (unmodified AWSIoTPythonSDK, discovery, the core's
shadow): the light's shadow documents reach the component over local pub/sub (the ShadowManager's side of the
shadow store), its statistics of every third green reach its own DynamoDB table through the core's token exchange
service and the dashboard's MQTT console through IoT Core; the Lambda still writes only its own table.

It runs on the shared run's v2 instance, after or before the other tests that drive the light: it checks what its
own 3 cycles added to what the component and the Lambda had counted and written before.

Run: .venv/bin/python -m pytest -q tests/e2e/test_v2_carstats.py"""
from __future__ import annotations

import pytest

import e2e_gg
import e2e_light_kit as kit

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("platform", ["v2"], indirect=True)]

NAME = "com.ggbundle.CarStats"
TABLE, LAMBDA_TABLE = "CarStatsV2", kit.LAMBDA_TABLE
TOPIC = "ggbundle/GG_Core/carstats"
READY_S, FLOW_S = 60.0, 60.0


def _log(run) -> str:
    path = run.state_dir / "v2" / "greengrass" / "logs" / f"{NAME}.log"
    return path.read_text(errors="replace") if path.exists() else f"(no log at {path})"


def _greens(run) -> list:
    return kit.greens(_log(run), prefix=f"{NAME}: ")


def _wait_log(run, text: str, timeout: float) -> None:
    try:
        e2e_gg.wait_for(lambda: text in _log(run), timeout, f"{NAME} to log {text!r}", 0.2)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- component log:\n{_log(run)[-3000:]}\n--- run:\n"
                             f"{run.run.output()[-2000:]}") from None


def _wait_greens(run, count: int) -> list:
    def logged():
        found = _greens(run)
        return found if len(found) >= count else None

    try:
        found = e2e_gg.wait_for(logged, FLOW_S, f"{NAME} to log {count} greens")
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- component log:\n{_log(run)[-3000:]}") from None
    assert len(found) == count, found
    return found


def _component_items(run, greens: list) -> list:
    """Its table's items once those of ``greens`` are written (one per batch of 3 over all its greens)."""
    items = kit.wait_items(run.client("dynamodb"), TABLE, len(kit.expected_items(greens)), FLOW_S)
    assert kit.by_greens(items) == kit.expected_items(greens), (items, greens)
    for item in items:
        assert (item["CoreDevice"], item["Writer"]) == ("GG_Core", NAME), item
    return items


def test_the_components_statistics_reach_its_table_and_the_console(group_run):
    run = group_run
    # subscribed to the documents topic and RUNNING before the devices drive the shadow
    _wait_log(run, "RUNNING: counting green phases of GG_TrafficLight", READY_S)
    greens_before = _greens(run)
    items_before = _component_items(run, greens_before)
    lambda_before = kit.lambda_before(run)
    console = run.console()
    try:
        console.subscribe(TOPIC)
        with kit.LightCycles(run) as lc:
            lc.run_switch(3)
            changes = kit.wait_changes(lc.light, 3)
            assert changes.count("G") == 3, changes
            assert lc.light.stop() == 0, lc.light.output()

        # 3 more greens in its log (counted on from the ones before), 3 in a row: one batch completed, so one
        # message on its topic (from the component) and one item more in its table, with the totals at its last
        # green (the ones before it included)
        greens = _wait_greens(run, len(greens_before) + 3)
        assert greens[:len(greens_before)] == greens_before, (greens_before, greens)
        batches = kit.expected_items(greens[len(greens_before):])   # the running totals at each batch's end
        assert len(batches) == 1, greens
        batch = batches[0]
        try:
            (event,) = console.wait_messages(TOPIC, FLOW_S)
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- component log:\n{_log(run)[-3000:]}") from None
        assert event["source"] == f"component:{NAME}", event
        stats = e2e_gg.message_payload(event)
        want_stats = {**batch, "CoreDevice": "GG_Core", "Writer": NAME, "Table": TABLE}
        assert {k: stats.get(k) for k in want_stats} == want_stats, (stats, greens)

        items = _component_items(run, greens)   # written before the publish
        assert len(items) == len(items_before) + 1 and all(i in items for i in items_before), (items_before, items)
        [item] = [i for i in items if int(i["TotalGreenlights"]) == batch["TotalGreenlights"]]
        assert item["Time"] == stats["Time"]
        assert kit.stats_of(item) == batch, item

        # the Lambda counted the same greens into its own table (one item more, no Writer); neither wrote the
        # other's
        _, lambda_items = kit.check_lambda(run, lambda_before, 3)
        assert len(lambda_items) == len(lambda_before.items) + 1, (lambda_before.items, lambda_items)
        assert len(kit.table_items(run.client("dynamodb"), TABLE)) == len(items)
        assert len(console.messages(TOPIC)) == 1, console.messages(TOPIC)
    finally:
        console.close()
