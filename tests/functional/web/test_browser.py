"""The dashboard page in headless Chromium (Debian ``chromium`` + ``chromium-driver``) via selenium.

The dashboard runs in a thread with its own event loop (selenium calls block); messages enter
the real router from the test thread, as devices and functions would.

Run: .venv/bin/python -m pytest -q tests/functional/web -m browser
"""
from __future__ import annotations

import json

import pytest

from localcore.interfaces import Message
from localcore.runtime.connectors import NO_COMPOSE
from tests import browser

pytestmark = pytest.mark.browser

WAIT_S = 10
LIGHT = "GG_TrafficLight"
SHADOW_UPDATE = f"$aws/things/{LIGHT}/shadow/update"

if not (browser.CHROMIUM and browser.CHROMEDRIVER):
    pytest.skip(browser.MISSING_BROWSER, allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402 — only when a browser is there to drive
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402


@pytest.fixture(scope="module")
def server(browser_core):
    srv = browser.DashboardThread(browser_core.facade, wait_s=WAIT_S)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def wait(drv, condition, what: str):
    return browser.wait(drv, condition, what, timeout=WAIT_S, poll=0.05)


text_of = browser.text_of
severe_logs = browser.severe_logs


def open_page(drv, server) -> None:
    drv.get(server.dashboard.url)
    wait(drv, lambda d: text_of(d, "connection") == "Live", "the event stream to connect")
    wait(drv, lambda d: "reader" in text_of(d, "functions"), "the first status")


def test_page_loads_without_console_errors_or_secrets(driver, server, browser_core):
    driver.get_log("browser")  # start from an empty log
    open_page(driver, server)
    assert "Success" in text_of(driver, "group-info")
    assert "ver-7" in text_of(driver, "group-info")
    assert "not connected" in text_of(driver, "devices")
    assert "function:stream_reader" in text_of(driver, "subscriptions")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#subscription-graph path.edge")) == 7
    assert "AggregateKinesisExport (kinesis): position 40, lag 1" in text_of(driver, "streams-body")
    assert "0 … 41" in text_of(driver, "streams-body")
    wait(driver, lambda d: d.execute_script(
        "const i = document.getElementById('webcam-image'); return !i.hidden && i.complete && i.naturalWidth"),
        "the webcam frame to load")
    assert driver.execute_script("return document.getElementById('webcam-image').naturalWidth") == 160
    assert "12" in text_of(driver, "car-stats")
    source = driver.page_source
    for secret in browser_core.secrets:
        assert secret not in source
    assert server.dashboard.token not in driver.current_url  # moved out of the address bar
    assert severe_logs(driver) == []
    # reloading closes the old page's stream (browsers allow only six connections per host)
    open_page(driver, server)
    wait(driver, lambda d: server.dashboard.status()["event_streams"] == 1, "the old event stream to close")


def test_controls_are_labelled_and_keyboard_reachable(driver, server):
    open_page(driver, server)
    unlabelled = driver.execute_script("""
        return [...document.querySelectorAll('input, textarea, select')]
          .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.id);""")
    assert unlabelled == []
    assert driver.execute_script("return [...document.images].filter(i => !i.alt).length") == 0
    assert driver.execute_script(
        "return [...document.querySelectorAll('section')].every(s => s.querySelector('h2'))")
    topic = driver.find_element(By.ID, "publish-topic")
    topic.click()
    topic.send_keys(Keys.TAB)  # topic -> payload -> Publish button
    driver.switch_to.active_element.send_keys(Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("id") == "publish-button"


def test_display_panel_follows_published_aggregates(driver, server, browser_core):
    open_page(driver, server)
    canvas = "return document.getElementById('aggregates-chart').toDataURL()"
    before = driver.execute_script(canvas)
    browser_core.publish_aggregates(
        {"location": "garage", "mean": 21.5, "min": 20.0, "max": 23.0, "count": 10,
         "window_start": 1_000_000, "window_end": 1_010_000})
    wait(driver, lambda d: "21.500" in text_of(d, "aggregates"), "the first aggregate")
    first = driver.execute_script(canvas)
    assert first != before
    browser_core.publish_aggregates(
        {"location": "garage", "mean": 23.25, "min": 22.0, "max": 24.0, "count": 10,
         "window_start": 1_010_000, "window_end": 1_020_000},
        {"location": "attic", "mean": 18.125, "min": 17.0, "max": 19.0, "count": 8,
         "window_start": 1_010_000, "window_end": 1_020_000})
    wait(driver, lambda d: "23.250" in text_of(d, "aggregates") and "18.125" in text_of(d, "aggregates"),
         "the second aggregates")
    assert "21.500" not in text_of(driver, "aggregates")  # the latest window replaces the old one
    assert driver.execute_script(canvas) != first
    assert text_of(driver, "aggregates-updates").startswith("2 updates received")
    assert {"garage", "attic"} <= set(text_of(driver, "aggregates-legend").split("\n"))


def test_traffic_light_follows_the_shadow(driver, server, browser_core):
    open_page(driver, server)
    lamp_fill = "return getComputedStyle(document.getElementById(arguments[0])).fill"
    browser_core.set_light("R")
    wait(driver, lambda d: d.find_element(By.ID, "traffic-light").get_attribute("data-colour") == "RED", "red")
    assert text_of(driver, "light-state") == "Light: RED"
    red_on = driver.execute_script(lamp_fill, "lamp-red")
    green_off = driver.execute_script(lamp_fill, "lamp-green")
    version = int(text_of(driver, "light-version"))
    browser_core.set_light("G")
    wait(driver, lambda d: d.find_element(By.ID, "traffic-light").get_attribute("data-colour") == "GREEN", "green")
    assert text_of(driver, "light-state") == "Light: GREEN"
    assert int(text_of(driver, "light-version")) == version + 1
    assert driver.execute_script(lamp_fill, "lamp-green") not in (green_off,)
    assert driver.execute_script(lamp_fill, "lamp-red") != red_on  # red went dark
    assert driver.execute_script(lamp_fill, "lamp-green") == "rgb(31, 214, 95)"


def test_mqtt_console_publishes_and_subscribes(driver, server, browser_core):
    open_page(driver, server)
    seen = len(browser_core.stream_reader.messages)

    subscribe = driver.find_element(By.ID, "subscribe-filter")
    subscribe.clear()
    subscribe.send_keys(SHADOW_UPDATE + "/accepted")
    driver.find_element(By.ID, "subscribe-button").click()
    wait(driver, lambda d: "Subscribed to" in text_of(d, "subscribe-result"), "the subscription")
    assert SHADOW_UPDATE + "/accepted" in text_of(driver, "console-subscriptions")

    def publish(topic: str, payload: dict) -> str:
        before = text_of(driver, "publish-result")
        driver.find_element(By.ID, "publish-topic").clear()
        driver.find_element(By.ID, "publish-topic").send_keys(topic)
        area = driver.find_element(By.ID, "publish-payload")
        area.clear()
        area.send_keys(json.dumps(payload))
        driver.find_element(By.ID, "publish-button").click()
        wait(driver, lambda d: text_of(d, "publish-result") not in ("", before), f"the answer for {topic}")
        return text_of(driver, "publish-result")

    # a function subscribed through the table gets it
    assert publish("streams/read", {"limit": 3}) == "Published on streams/read: delivered to 1 target."
    message = browser_core.stream_reader.wait_for(seen + 1)[-1]
    assert (message.source, message.topic, json.loads(message.payload)) == ("cloud", "streams/read", {"limit": 3})

    # the shadow service gets it; its accepted reply is routed to cloud and shows in the console
    assert "delivered to 1 target" in publish(SHADOW_UPDATE, {"state": {"reported": {"property": "YELLOW"}}})
    wait(driver, lambda d: "YELLOW" in text_of(d, "console-messages"), "the accepted reply in the console")
    assert f"shadow:{LIGHT}" in text_of(driver, "console-messages")
    wait(driver, lambda d: d.find_element(By.ID, "traffic-light").get_attribute("data-colour") == "YELLOW",
         "the light to turn yellow")

    assert publish("nobody/listens", {"x": 1}) == "Published on nobody/listens: no subscription matched: dropped."
    assert "no target was connected" in publish("cars/passed", {"n": 1})

    driver.find_element(By.ID, "publish-payload").clear()
    driver.find_element(By.ID, "publish-payload").send_keys("{not json")
    driver.find_element(By.ID, "publish-button").click()
    wait(driver, lambda d: "not valid JSON" in text_of(d, "publish-result"), "the JSON error")
    assert severe_logs(driver) == []


def test_snapshot_button_shows_the_result(driver, server):
    open_page(driver, server)
    driver.find_element(By.ID, "snapshot-button").click()
    wait(driver, lambda d: "Snapshot ready." in text_of(d, "snapshot-result"), "the snapshot result")
    link = driver.find_element(By.CSS_SELECTOR, "#snapshot-result a")
    assert "webcam/latest.jpg" in link.get_attribute("href")


def test_full_page_screenshot_is_not_blank(driver, server, browser_core):
    open_page(driver, server)
    browser_core.publish_aggregates({"location": "porch", "mean": 7.5, "min": 7.0, "max": 8.0, "count": 3,
                                     "window_start": 1_020_000, "window_end": 1_030_000})
    wait(driver, lambda d: "7.500" in text_of(d, "aggregates"), "an aggregate to draw")
    image, height = browser.full_page_screenshot(driver, "dashboard.png")
    browser.assert_not_blank(image, height)


def test_a_wrong_token_is_explained_on_the_page(driver, server):
    base = server.dashboard.url.split("?")[0]
    driver.get(base + "?token=" + "x" * 43)
    wait(driver, lambda d: text_of(d, "connection") == "Refused", "the refusal")
    assert "wrong dashboard token" in text_of(driver, "token-missing")
    driver.get_log("browser")  # the refused requests are logged as errors by design; start clean again
    open_page(driver, server)  # the right URL still works in the same tab


def test_a_page_without_token_says_where_to_get_it(driver, server):
    first = driver.current_window_handle
    driver.switch_to.new_window("tab")  # a fresh tab: nothing in its session storage
    try:
        driver.get(server.dashboard.url.split("?")[0])
        wait(driver, lambda d: d.find_element(By.ID, "token-missing").is_displayed(), "the token notice")
        assert "?token=" in text_of(driver, "token-missing")
        assert text_of(driver, "connection") == "No token"
        assert severe_logs(driver) == []  # nothing was even requested without a token
    finally:
        driver.close()
        driver.switch_to.window(first)


def other_streams(server) -> int:
    """Event streams of the module's own browser (its one tab: 0 or 1), once the pages of an
    earlier test's browser have gone."""
    streams = server.dashboard.status
    browser.wait(None, lambda _: streams()["event_streams"] <= 1, "earlier browsers' streams to close",
                 timeout=WAIT_S)
    return streams()["event_streams"]


def test_eight_tabs_share_one_event_stream_and_the_last_one_stays_live(server, browser_core):
    """Browsers open six HTTP/1.1 connections per host: a stream per tab would stall tabs 7 and 8."""
    others = other_streams(server)
    tabs = browser.Browser(prefix="dashboard-tabs-")  # its own profile: its own connection pool
    drv = tabs.driver
    drv.set_page_load_timeout(WAIT_S)  # a stalled tab does not even load its script
    try:
        first = drv.current_window_handle
        for n in range(8):
            if n:
                drv.switch_to.new_window("tab")
            try:
                drv.get(server.dashboard.url)
            except TimeoutException:
                pytest.fail(f"tab {n + 1} did not load within {WAIT_S} s (connections per host used up?)")
        last = drv.current_window_handle
        wait(drv, lambda d: text_of(d, "connection") == "Live", "the 8th tab's stream")
        wait(drv, lambda d: "reader" in text_of(d, "functions"), "the 8th tab's first status")
        browser_core.publish_aggregates({"location": "tab-eight", "mean": 31.75, "min": 31.0, "max": 32.0,
                                         "count": 2, "window_start": 1_100_000, "window_end": 1_110_000})
        wait(drv, lambda d: "31.750" in text_of(d, "aggregates"), "a live update in the 8th tab")
        wait(drv, lambda d: server.dashboard.status()["event_streams"] == others + 1,
             "one event stream for 8 tabs")

        # the tab holding the stream goes: another takes over and the 8th tab stays live
        drv.switch_to.window(first)
        drv.close()
        drv.switch_to.window(last)
        browser_core.publish_aggregates({"location": "tab-eight", "mean": 33.5, "min": 33.0, "max": 34.0,
                                         "count": 2, "window_start": 1_110_000, "window_end": 1_120_000})
        wait(drv, lambda d: "33.500" in text_of(d, "aggregates"), "a live update after the hand-over")
        wait(drv, lambda d: server.dashboard.status()["event_streams"] == others + 1,
             "still one event stream")
        assert text_of(drv, "connection") == "Live"
        assert severe_logs(drv) == []
    finally:
        tabs.quit()


def test_console_messages_reach_only_the_tab_that_subscribed(server, browser_core):
    """Tabs share one stream: each shows only the messages of its own console subscriptions."""
    others = other_streams(server)
    tabs = browser.Browser(prefix="dashboard-tabs-")
    drv = tabs.driver
    try:
        drv.get(server.dashboard.url)
        quiet = drv.current_window_handle
        wait(drv, lambda d: text_of(d, "connection") == "Live", "the first tab's stream")
        drv.switch_to.new_window("tab")
        drv.get(server.dashboard.url)
        wait(drv, lambda d: text_of(d, "connection") == "Live", "the second tab, live through the first")
        box = drv.find_element(By.ID, "subscribe-filter")
        box.clear()
        box.send_keys("hello/world")
        drv.find_element(By.ID, "subscribe-button").click()
        wait(drv, lambda d: "Subscribed to" in text_of(d, "subscribe-result"), "the subscription")
        browser_core.router.publish(Message("device:HelloWorld_Publisher", "hello/world", b'{"n": 8}'))
        wait(drv, lambda d: '"n": 8' in text_of(d, "console-messages"), "the message in the subscribing tab")
        drv.switch_to.window(quiet)
        assert text_of(drv, "console-messages") == ""
        assert server.dashboard.status()["event_streams"] == others + 1
    finally:
        tabs.quit()


def test_connector_panel_says_why_a_connector_does_not_run(driver, server):
    open_page(driver, server)
    wait(driver, lambda d: "docker-app" in text_of(d, "connectors"), "the connectors")
    assert NO_COMPOSE in text_of(driver, "connectors")
    assert "not run" in text_of(driver, "connectors")
