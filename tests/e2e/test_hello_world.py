"""hello_world (pinned) → hello/world → cloud, seen through the dashboard's MQTT test console."""
import re

import pytest

import e2e_gg

pytestmark = pytest.mark.slow

HELLO = re.compile(r"^Hello world! Sent from Greengrass Core running on platform: \S.*$")


def test_hello_world_reaches_the_cloud(group_run, console):
    console.subscribe("hello/world")
    # the test group publishes every second: two messages within the bound
    seen = console.wait_messages("hello/world", timeout=20, count=2)
    texts = [e2e_gg.message_payload(e) for e in seen]
    for text in texts:
        if isinstance(text, dict):
            text = text.get("message", text)
        assert isinstance(text, str) and HELLO.match(text), texts
    assert all(e.get("source") in ("hello_world", "function:hello_world") for e in seen), seen
