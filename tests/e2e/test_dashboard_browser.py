"""The dashboard in headless Chromium against the real group (issue #9).

The shared run of each platform (``group_run``: real Lambdas, router, broker, shadow service, device scripts
through discovery); its test group has the subscription ``cloud → HelloWorld_Subscriber`` on ``console/test``
(``e2e_gg.write_test_group``) so that the page's MQTT console (source ``cloud``) can reach a device. Under v2
that row becomes a Bridge IotCore → LocalMqtt mapping: the console's publish as ``cloud`` reaches the device
the same way. Other tests of the run drive the traffic light too: the light test checks its own cycles.

Run: .venv/bin/python -m pytest -q tests/e2e/test_dashboard_browser.py
"""
import importlib.util
import json
import re
import sys
import uuid
from pathlib import Path

import pytest

import e2e_light_kit as kit

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _helpers():
    module = sys.modules.get("e2e_browser_helpers")
    if module is None:
        spec = importlib.util.spec_from_file_location("e2e_browser_helpers",
                                                      Path(__file__).resolve().parent / "browser_helpers.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["e2e_browser_helpers"] = module
        spec.loader.exec_module(module)
    return module


bh = _helpers()
if not (bh.CHROMIUM and bh.CHROMEDRIVER):
    pytest.skip(bh.MISSING_BROWSER, allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402 — only when a browser is there to drive

import cv2  # noqa: E402
import numpy as np  # noqa: E402

CONSOLE_TOPIC = "console/test"
SUBSCRIBER = "HelloWorld_Subscriber"
LAMP_ON = {"RED": "rgb(255, 42, 42)", "YELLOW": "rgb(255, 204, 0)", "GREEN": "rgb(31, 214, 95)"}
LAMP_OFF = "rgb(77, 77, 77)"
WEBCAM_SHOWN = ("const i = document.getElementById('webcam-image');"
                "return !i.hidden && i.complete && i.naturalWidth > 0")


@pytest.fixture(scope="module")
def browser():
    b = bh.Browser()
    try:
        yield b.driver
    finally:
        b.quit()


@pytest.fixture(scope="module")
def page(browser, group_run):
    """The dashboard opened once with the run's token URL (later tests work in the same page). The page is left
    before its run stops, and the console log emptied after leaving whatever was open before: a page left open
    on a stopped run logs its event stream's refused reconnects."""
    browser.get("about:blank")
    browser.get_log("browser")  # start from an empty console log
    browser.get(group_run.dashboard_url)
    bh.wait(browser, lambda d: bh.text_of(d, "connection") == "Live", "the event stream to connect",
            timeout=20)
    bh.wait(browser, lambda d: "reader" in bh.text_of(d, "functions"), "the first status")
    try:
        yield browser
    finally:
        browser.get("about:blank")


def test_page_loads_without_console_errors(page, group_run):
    token = group_run.dashboard_url.split("token=", 1)[1]
    assert token not in page.current_url  # moved out of the address bar
    info = bh.text_of(page, "group-info")
    assert "gg-bundle" in info, info
    functions = bh.text_of(page, "functions")
    for name in ("producer", "aggregator", "reader", "webcam", "s3_uploader"):
        assert name in functions, functions
    subs = bh.text_of(page, "subscriptions")
    assert CONSOLE_TOPIC in subs and SUBSCRIBER in subs, subs
    # the webcam's latest frame (synthetic camera) is fetched and decoded by the page
    # (read in the same step: a newer frame may replace the image right after, its width 0 while it loads)
    width = bh.wait(page, lambda d: d.execute_script(WEBCAM_SHOWN + " && i.naturalWidth"),
                    "the webcam frame to load", timeout=20)
    assert width == 160
    assert bh.severe_logs(page) == []


def test_display_panel_values_change_over_time(page):
    canvas = "return document.getElementById('aggregates-chart').toDataURL()"
    bh.wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#aggregates tbody tr"),
            "the first aggregates from the reader", timeout=25)
    first_rows = _aggregate_rows(page)
    first_chart = page.execute_script(canvas)
    first_updates = _update_count(page)
    assert {r[0] for r in first_rows} <= {"kitchen", "garage", "porch"}, first_rows
    for row in first_rows:
        mean, low, high = (float(x) for x in row[1:4])  # location, mean, min, max, count
        assert low <= mean <= high, row
    # a later window arrives: other values in the table, another chart, a higher update count
    bh.wait(page, lambda d: _aggregate_rows(d) != first_rows, "the aggregates to change", timeout=20)
    assert page.execute_script(canvas) != first_chart
    bh.wait(page, lambda d: _update_count(d) > first_updates, "the update counter to grow")
    legend = set(bh.text_of(page, "aggregates-legend").split("\n"))
    assert legend and legend <= {"kitchen", "garage", "porch"}, legend


def test_console_publish_reaches_a_device_and_unmatched_is_dropped(page, group_run):
    sub = group_run.start_device("basic_discovery.py", SUBSCRIBER, "-m", "subscribe", "-t", CONSOLE_TOPIC, "-v")
    # the SDK logs the SUBACK it waited for (-v): from then on the core routes console/test to it
    sub.wait_for_line(r"Dispatching \[suback\] event", timeout=30)

    nonce = uuid.uuid4().hex
    payload = {"message": "typed in the dashboard", "nonce": nonce}
    result = _publish(page, CONSOLE_TOPIC, json.dumps(payload))
    assert result == f"Published on {CONSOLE_TOPIC}: delivered to 1 target.", result
    # (the JSON object up to its end: with -v an SDK log record from another thread may follow on the same line)
    got = sub.wait_for_line(rf'^Received message on topic {re.escape(CONSOLE_TOPIC)}: (\{{.*"{nonce}"\}})',
                            timeout=10)
    assert json.loads(got[0].group(1)) == payload

    unmatched = f"nobody/listens/{nonce[:8]}"
    result = _publish(page, unmatched, json.dumps({"nonce": nonce}))
    assert result == f"Published on {unmatched}: no subscription matched: dropped.", result
    assert len(sub.matches(nonce)) == 1, sub.output()  # the device got the first one only
    assert sub.stop() == 0, sub.output()
    assert bh.severe_logs(page) == []


def test_traffic_light_changes_colour(page, group_run):
    with kit.LightCycles(group_run) as lc:
        switch = lc.start_switch(2)
        seen = []  # the colours drawn, in the order the page showed them (from the light's yellow before the cycles)

        def observe(d):
            colour, fills = _lamps(d)
            if colour and (not seen or seen[-1][0] != colour):
                seen.append((colour, fills))
            return len({c for c, _ in seen}) >= 2 and switch.proc.poll() is not None and colour == "RED"

        bh.wait(page, observe, "the light to change colour and end red", timeout=30, poll=0.05)
        kit.check_switch(switch, list("GYR" * 2), timeout=5)
        kit.wait_changes(lc.light, 2)
        for colour, fills in seen:  # exactly the lamp of that colour is lit, in its colour
            lit = {lamp: fill for lamp, fill in fills.items() if fill != LAMP_OFF}
            assert lit == {colour.lower(): LAMP_ON[colour]}, (colour, fills)
        # the drawn pixels: the red lamp's centre is bright red now
        png = page.find_element(By.ID, "traffic-light").screenshot_as_png
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        h, w = image.shape[:2]
        b, g, r = (int(v) for v in image[int(h * 45 / 230), w // 2])
        assert r > 200 and g < 100 and b < 100, (b, g, r)
        b, g, r = (int(v) for v in image[int(h * 185 / 230), w // 2])
        assert max(b, g, r) < 120, (b, g, r)  # green lamp dark
        assert lc.light.stop() == 0, lc.light.output()


def test_full_page_screenshot_is_not_blank(page):
    # the latest webcam frame stays on the page although the uploader deletes each one after upload
    bh.wait(page, lambda d: d.execute_script(
        WEBCAM_SHOWN),
        "the webcam frame to show")
    image, height = bh.full_page_screenshot(page, "e2e-dashboard.png")
    bh.assert_not_blank(image, height)
    assert page.execute_script("return document.getElementById('webcam-image').hidden") is False
    assert bh.severe_logs(page) == []


V2_PANELS = ("deployment", "components", "client-devices")
SEED_LAMBDAS = ("producer", "aggregator", "reader", "webcam", "s3_uploader", "hello_world", "car_aggregator",
                "stream_reader")


def test_v2_names_the_platform_and_lists_the_lambda_components_running(page, group_run):
    if group_run.platform != "v2":
        pytest.skip("Greengrass V2 only (the V1 page hides these panels: the next test)")
    bh.wait(page, lambda d: bh.text_of(d, "platform") == "Greengrass V2", "the header to name Greengrass V2")
    for panel in V2_PANELS:
        assert page.find_element(By.ID, panel).is_displayed(), panel
    bh.wait(page, lambda d: _component_rows(d), "the components of the deployment")
    rows = _component_rows(page)
    lambdas = {name: (state, row_class) for row_class, name, _version, kind, state, _details in rows
               if kind == "lambda"}
    for fn in SEED_LAMBDAS:  # a Lambda component is named <group>-<function>
        [name] = [n for n in lambdas if n.endswith("-" + fn)] or [None]
        assert name is not None, (fn, rows)
        assert lambdas[name] == ("RUNNING", ""), (name, lambdas[name])
    kinds = {kind for _, _, _, kind, _, _ in rows}
    assert {"lambda", "public"} <= kinds, rows
    assert any(name == "aws.greengrass.clientdevices.Auth" for _, name, *_ in rows), rows
    deployment = bh.text_of(page, "deployment")
    assert "SUCCEEDED" in deployment and "HEALTHY" in deployment and "UNHEALTHY" not in deployment, deployment
    assert group_run.endpoint["deployment_id"] in deployment, (group_run.endpoint, deployment)
    decisions = bh.text_of(page, "client-auth-decisions")
    for operation in ("connect", "publish", "subscribe"):
        assert operation in decisions, decisions
    assert SUBSCRIBER in bh.text_of(page, "client-auth-groups")
    assert bh.severe_logs(page) == []


def test_v1_hides_the_v2_panels(page, group_run):
    if group_run.platform != "v1":
        pytest.skip("Greengrass V1 only (the V2 page shows these panels: the test above)")
    bh.wait(page, lambda d: bh.text_of(d, "platform") == "Greengrass V1", "the header to name Greengrass V1")
    for panel in V2_PANELS:
        assert not page.find_element(By.ID, panel).is_displayed(), panel
        assert not page.find_element(By.CSS_SELECTOR, f'nav a[href="#{panel}"]').is_displayed(), panel
    for panel in ("group", "display", "traffic", "webcam", "streams", "console"):
        assert page.find_element(By.ID, panel).is_displayed(), panel
    assert bh.severe_logs(page) == []


# -- page readers -----------------------------------------------------------------------------------
def _component_rows(drv):
    """[row class, name, version, kind, lifecycle state, details] per row of the Components panel."""
    return drv.execute_script("""
        return [...document.querySelectorAll('#components-body tbody tr')]
          .map(tr => [tr.className, ...[...tr.cells].map(td => td.textContent)]);""")


def _aggregate_rows(drv):
    return drv.execute_script("""
        return [...document.querySelectorAll('#aggregates tbody tr')]
          .map(tr => [...tr.cells].slice(0, 5).map(td => td.textContent));""")


def _update_count(drv) -> int:
    m = re.match(r"(\d+) updates? received", bh.text_of(drv, "aggregates-updates"))
    return int(m.group(1)) if m else 0


def _lamps(drv):
    return drv.execute_script("""
        const fill = (id) => getComputedStyle(document.getElementById(id)).fill;
        return [document.getElementById('traffic-light').dataset.colour || null,
                {red: fill('lamp-red'), yellow: fill('lamp-yellow'), green: fill('lamp-green')}];""")


def _publish(drv, topic: str, payload: str) -> str:
    before = bh.text_of(drv, "publish-result")
    field = drv.find_element(By.ID, "publish-topic")
    field.clear()
    field.send_keys(topic)
    area = drv.find_element(By.ID, "publish-payload")
    area.clear()
    area.send_keys(payload)
    drv.find_element(By.ID, "publish-button").click()
    bh.wait(drv, lambda d: bh.text_of(d, "publish-result") not in ("", before), f"the answer for {topic}")
    return bh.text_of(drv, "publish-result")
