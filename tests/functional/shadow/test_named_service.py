"""Named shadows through the shadow service: routed requests, listeners, the cloud sync's hook, persistence."""
import json

import pytest

from localcore.interfaces import Message, Route
from localcore.router import Router
from localcore.shadow import ShadowService


class Collect:
    def __init__(self):
        self.messages = []

    def deliver(self, message):
        self.messages.append(message)


async def test_named_shadow_over_the_router_with_listeners_and_restart(tmp_path):
    named = "$aws/things/Light/shadow/name/cfg"
    router = Router([Route("device:Switch", "shadow:Light", f"{named}/update"),
                     Route("shadow:Light", "device:Switch", f"{named}/update/accepted")])
    changes, heard = [], []
    service = ShadowService(tmp_path, on_change=lambda thing, doc: changes.append(thing))
    service.add_listener(lambda thing, name, replies: heard.append((thing, name, [r.topic for r in replies])))
    await service.start()
    service.attach(router)
    switch = Collect()
    router.attach("device:Switch", switch)

    assert router.publish(Message("device:Switch", f"{named}/update", b'{"state":{"reported":{"on":true}}}')) == 1
    assert [m.topic for m in switch.messages] == [f"{named}/update/accepted"]
    assert heard == [("Light", "cfg", [f"{named}/update/accepted", f"{named}/update/documents"])]
    assert changes == []                               # the cloud sync follows classic shadows only
    service.handle("Light", "update", b'{"state":{"reported":{"x":1}}}')
    assert changes == ["Light"] and heard[-1][1] == ""
    assert service.status()["named"] == {"Light": {"cfg": 1}}

    again = ShadowService(tmp_path)
    await again.start()
    assert again.document("Light", "cfg")["state"] == {"reported": {"on": True}}
    assert again.named_shadows("Light") == ["cfg"]
    assert json.loads(again.handle("Light", "get", b"", "cfg")[0].payload)["version"] == 1


@pytest.mark.parametrize("limit", [0, 30 * 1024 + 1, "8192", True])
async def test_size_limit_outside_the_range_is_refused(tmp_path, limit):
    service = ShadowService(tmp_path)
    with pytest.raises(ValueError, match="from 1 to 30720 bytes"):
        service.set_max_document_bytes(limit)
    service.set_max_document_bytes(30 * 1024)
    assert service.max_document_bytes == 30 * 1024
