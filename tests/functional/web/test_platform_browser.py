"""The platform panels in headless Chromium: under Greengrass V2 the header names it and the Deployment,
Components and Client devices panels show the section (a component in trouble stands out); under V1 they
are hidden and the other panels are as before.

Run: .venv/bin/python -m pytest -q tests/functional/web/test_platform_browser.py
"""
from __future__ import annotations


import pytest

from localcore.clientauth import policy_from_config
from localcore.platform import V1, ComponentInfo, PlatformProfile
from tests import browser
from web.facade import platform_section

pytestmark = pytest.mark.browser

WAIT_S = 10
V2_PANELS = ("deployment", "components", "client-devices")

if not (browser.CHROMIUM and browser.CHROMEDRIVER):
    pytest.skip(browser.MISSING_BROWSER, allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402 — only when a browser is there to drive

PROFILE = PlatformProfile(name="v2", deployment_id="dep-42", components=(
    ComponentInfo("gg-bundle-reader", "1.0.7", "lambda"), ComponentInfo("gg-bundle-stream_reader", "1.0.2", "lambda"),
    ComponentInfo("gg-bundle-compose", "1.0.0", "generic"),
    ComponentInfo("aws.greengrass.clientdevices.Auth", "2.5.4", "public")))
AUTH = {"deviceGroups": {
    "formatVersion": "2021-03-05",
    "definitions": {"lights": {"selectionRule": "thingName: GG_TrafficLight", "policyName": "light"}},
    "policies": {"light": {"all": {"operations": ["mqtt:connect", "mqtt:publish"],
                                   "resources": ["mqtt:clientId:GG_TrafficLight", "mqtt:topic:lights/ok"]}}}}}


def installed(name, version, state, details=""):
    return {"componentName": name, "componentVersion": version, "lifecycleState": state,
            "lifecycleStateDetails": details, "isRoot": True}


DEPLOYMENT = {"id": "dep-42", "status": "SUCCEEDED", "platform": "v2", "message": "", "components": [
    installed("gg-bundle-reader", "1.0.7", "RUNNING"),
    installed("gg-bundle-stream_reader", "1.0.2", "RUNNING", "on demand: idle (0 of 100 instances)"),
    installed("gg-bundle-compose", "1.0.0", "BROKEN", "docker compose up exited 1 three times"),
    installed("aws.greengrass.clientdevices.Auth", "2.5.4", "RUNNING")]}


class Platform:
    """The ``platform`` provider the test switches between V2 and V1 while the page is open."""

    def __init__(self) -> None:
        self.policy = policy_from_config(AUTH)
        self.profile = PROFILE

    def __call__(self) -> dict:
        broker = {"state": "started"}
        if self.profile.is_v2:
            broker["client_policy"] = self.policy.status()
        return platform_section(self.profile, DEPLOYMENT if self.profile.is_v2 else {"id": "d-1", "status": "Success"},
                                broker, core_thing="GG_Core", core_status={"services": []})


@pytest.fixture(scope="module")
def platform():
    return Platform()


class WithPlatform:
    """The conftest's facade (real router, shadow service, tap) plus the ``platform`` section, as
    ``localcore/core.py`` adds it to its sections."""

    def __init__(self, facade, platform: Platform) -> None:
        self._facade, self._platform = facade, platform

    def status(self) -> dict:
        return dict(self._facade.status(), platform=self._platform())

    def __getattr__(self, name):
        return getattr(self._facade, name)


@pytest.fixture(scope="module")
def server(browser_core, platform):
    srv = browser.DashboardThread(WithPlatform(browser_core.facade, platform), wait_s=WAIT_S)
    srv.start()
    try:
        yield srv.dashboard
    finally:
        srv.stop()


def wait(drv, condition, what: str):
    return browser.wait(drv, condition, what, timeout=WAIT_S, poll=0.05)


def shown(drv, element_id: str) -> bool:
    return drv.find_element(By.ID, element_id).is_displayed()


def component_rows(drv) -> list[list[str]]:
    return drv.execute_script("""
        return [...document.querySelectorAll('#components-body tbody tr')]
          .map(tr => [tr.className, ...[...tr.cells].map(td => td.textContent)]);""")


def test_v2_header_and_panels(driver, server, platform):
    assert platform.policy.can_connect("GG_TrafficLight", "GG_TrafficLight")
    assert not platform.policy.can_publish("GG_TrafficLight", "lights/forbidden")
    assert not platform.policy.can_connect("Intruder", "Intruder")
    driver.get_log("browser")
    driver.get(server.url)
    wait(driver, lambda d: browser.text_of(d, "platform") == "Greengrass V2", "the header to name Greengrass V2")
    assert driver.title.startswith("Greengrass V2")
    for panel in V2_PANELS:
        assert shown(driver, panel), panel
        assert driver.find_element(By.CSS_SELECTOR, f'nav a[href="#{panel}"]').is_displayed()

    deployment = browser.text_of(driver, "deployment")
    assert "dep-42" in deployment and "SUCCEEDED" in deployment and "GG_Core" in deployment
    # the BROKEN component makes the core device unhealthy, and says why
    assert "UNHEALTHY" in deployment and "component gg-bundle-compose is BROKEN" in deployment

    rows = component_rows(driver)
    assert [r[1:5] for r in rows] == [
        ["gg-bundle-reader", "1.0.7", "lambda", "RUNNING"], ["gg-bundle-stream_reader", "1.0.2", "lambda", "RUNNING"],
        ["gg-bundle-compose", "1.0.0", "generic", "BROKEN"],
        ["aws.greengrass.clientdevices.Auth", "2.5.4", "public", "RUNNING"]]
    assert [r[0] for r in rows] == ["", "", "row-bad", ""]
    assert rows[1][5] == "on demand: idle (0 of 100 instances)"
    assert rows[2][5] == "docker compose up exited 1 three times"
    backgrounds = driver.execute_script("""
        return [...document.querySelectorAll('#components-body tbody tr')]
          .map(tr => getComputedStyle(tr.cells[0]).backgroundColor);""")
    assert backgrounds[2] != backgrounds[0]  # the BROKEN row stands out
    assert "1 in trouble: gg-bundle-compose BROKEN" in browser.text_of(driver, "components-summary")

    decisions = driver.execute_script("""
        return [...document.querySelectorAll('#client-auth-decisions tbody tr')]
          .map(tr => [...tr.cells].map(td => td.textContent));""")
    assert decisions == [["connect", "1", "1"], ["publish", "0", "1"], ["subscribe", "0", "0"]]
    refusals = driver.execute_script("""
        return [...document.querySelectorAll('#client-auth-refusals tbody tr')]
          .map(tr => [...tr.cells].slice(1, 4).map(td => td.textContent));""")
    assert refusals == [["Intruder", "mqtt:connect", "mqtt:clientId:Intruder"],
                        ["GG_TrafficLight", "mqtt:publish", "mqtt:topic:lights/forbidden"]]
    assert "thingName: GG_TrafficLight" in browser.text_of(driver, "client-auth-groups")
    # a refusal made while the page is open appears live
    assert not platform.policy.can_publish("GG_TrafficLight", "lights/later")
    wait(driver, lambda d: "mqtt:topic:lights/later" in browser.text_of(d, "client-auth-refusals"),
         "the new refusal to show")
    image, height = browser.full_page_screenshot(driver, "dashboard-v2-panels.png")
    browser.assert_not_blank(image, height)
    assert browser.severe_logs(driver) == []


def test_v1_hides_the_v2_panels_and_keeps_the_others(driver, server, platform):
    platform.profile = V1
    wait(driver, lambda d: browser.text_of(d, "platform") == "Greengrass V1", "the header to name Greengrass V1")
    for panel in V2_PANELS:
        assert not shown(driver, panel), panel
        assert not driver.find_element(By.CSS_SELECTOR, f'nav a[href="#{panel}"]').is_displayed()
    for panel in ("group", "display", "traffic", "webcam", "streams", "console"):
        assert shown(driver, panel), panel
    assert "Success" in browser.text_of(driver, "group-info")
    assert "reader" in browser.text_of(driver, "functions")
    assert browser.severe_logs(driver) == []
