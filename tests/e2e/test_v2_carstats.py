"""com.ggbundle.CarStats (components/car_stats) under ``deploy.py run --platform v2``, beside the car_aggregator
Lambda, fed by the real traffic light and switch device scripts (unmodified AWSIoTPythonSDK, discovery, the core's
shadow): the light's shadow documents reach the component over local pub/sub (the ShadowManager's side of the
shadow store), its statistics of every third green reach its own DynamoDB table through the core's token exchange
service and the dashboard's MQTT console through IoT Core; the Lambda still writes only its own table.

A run of its own: the shared run's traffic-light test expects the only green phases."""
from __future__ import annotations

import re

import pytest

import e2e_gg

pytestmark = pytest.mark.slow

NAME = "com.ggbundle.CarStats"
TABLE, LAMBDA_TABLE = "CarStatsV2", "CarStats"
TOPIC = "ggbundle/GG_Core/carstats"
GREEN = re.compile(r"com\.ggbundle\.CarStats: green light: (\d+) cars; total (\d+) over (\d+) greens")
READY_S, FLOW_S = 60.0, 60.0


@pytest.fixture(scope="module")
def carstats_run(tmp_path_factory):
    running = e2e_gg.start_group(tmp_path_factory.mktemp("bundle-v2-carstats"), platform="v2")
    try:
        yield running
    finally:
        e2e_gg.assert_clean_stop(running.stop(), running.run)


def _log(run) -> str:
    path = run.state_dir / "v2" / "greengrass" / "logs" / f"{NAME}.log"
    return path.read_text(errors="replace") if path.exists() else f"(no log at {path})"


def _wait_log(run, text: str, timeout: float) -> None:
    try:
        e2e_gg.wait_for(lambda: text in _log(run), timeout, f"{NAME} to log {text!r}", 0.2)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- component log:\n{_log(run)[-3000:]}\n--- run:\n"
                             f"{run.run.output()[-2000:]}") from None


def _items(dynamodb, table: str) -> list:
    items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    return [{k: next(iter(v.values())) for k, v in i.items()} for i in items]


def test_the_components_statistics_reach_its_table_and_the_console(carstats_run):
    run = carstats_run
    dynamodb = run.client("dynamodb")
    assert _items(dynamodb, TABLE) == [] and _items(dynamodb, LAMBDA_TABLE) == []
    # subscribed to the documents topic and RUNNING before the devices drive the shadow
    _wait_log(run, "RUNNING: counting green phases of GG_TrafficLight", READY_S)
    console = run.console()
    console.subscribe(TOPIC)

    light = run.start_device("traffic_light.py", "GG_TrafficLight")
    light.wait_for_line(r"no shadow document yet", timeout=30)
    switch = run.start_device("light_controller.py", "GG_TrafficLight", "--interval", "1", "--cycles", "3",
                              client_id="GG_Switch")
    assert switch.wait_exit(60) == 0, switch.output()
    changes = light.wait_for_line(r"^Light changed to: ([GYR])$", timeout=15, count=9)
    assert "".join(m.group(1) for m in changes) == "GYR" * 3, light.output()

    # 3 greens, greensPerWrite 3: one message on its topic (from the component), one item in its table
    try:
        (event,) = console.wait_messages(TOPIC, FLOW_S)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- component log:\n{_log(run)[-3000:]}") from None
    assert event["source"] == f"component:{NAME}", event
    stats = e2e_gg.message_payload(event)
    greens = [tuple(int(x) for x in m.groups()) for m in GREEN.finditer(_log(run))]
    assert len(greens) == 3, _log(run)[-3000:]
    cars = [c for c, _, _ in greens]
    want = {"TotalTraffic": sum(cars), "TotalGreenlights": 3, "MinCarsPassing": min(cars),
            "MaxCarsPassing": max(cars), "CoreDevice": "GG_Core", "Writer": NAME, "Table": TABLE}
    assert {k: stats.get(k) for k in want} == want, (stats, greens)

    (item,) = _items(dynamodb, TABLE)   # written before the publish
    assert item["Time"] == stats["Time"]
    assert {k: int(item[k]) for k in ("TotalTraffic", "TotalGreenlights", "MinCarsPassing", "MaxCarsPassing")} == \
        {k: want[k] for k in ("TotalTraffic", "TotalGreenlights", "MinCarsPassing", "MaxCarsPassing")}, item
    assert (item["CoreDevice"], item["Writer"]) == ("GG_Core", NAME)

    # the Lambda counted the same greens into its own table; neither wrote the other's
    lambda_items = e2e_gg.wait_for(lambda: _items(dynamodb, LAMBDA_TABLE), 20, f"an item in {LAMBDA_TABLE}")
    assert len(lambda_items) == 1 and "Writer" not in lambda_items[0], lambda_items
    assert int(lambda_items[0]["TotalGreenlights"]) == 3, lambda_items
    assert len(_items(dynamodb, TABLE)) == 1
    assert light.stop() == 0, light.output()
