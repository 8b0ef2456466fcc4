import json

from localcore.interfaces import Message, Route
from localcore.router import Router
from localcore.shadow import ShadowService


class Collect:
    def __init__(self):
        self.messages = []

    def deliver(self, message):
        self.messages.append(message)


ROUTES = [
    Route("device:Switch", "shadow:Light", "$aws/things/Light/shadow/update"),
    Route("shadow:Light", "device:Switch", "$aws/things/Light/shadow/update/accepted"),
    Route("shadow:Light", "device:Light", "$aws/things/Light/shadow/update/delta"),
    Route("shadow:Light", "function:agg", "$aws/things/Light/shadow/update/documents"),
]


async def test_routed_request_replies_go_through_the_table(tmp_path):
    router = Router(ROUTES)
    service = ShadowService(tmp_path / "shadows")
    await service.start()
    service.attach(router)
    switch, light, agg = Collect(), Collect(), Collect()
    router.attach("device:Switch", switch)
    router.attach("device:Light", light)
    router.attach("function:agg", agg)

    body = json.dumps({"state": {"desired": {"property": "GREEN"}}, "clientToken": "tok"}).encode()
    assert router.publish(Message("device:Switch", "$aws/things/Light/shadow/update", body)) == 1
    assert [m.topic for m in switch.messages] == ["$aws/things/Light/shadow/update/accepted"]
    assert all(m.source == "shadow:Light" for m in switch.messages + light.messages + agg.messages)
    assert json.loads(light.messages[0].payload)["state"] == {"property": "GREEN"}
    assert json.loads(agg.messages[0].payload)["current"]["version"] == 1
    # a device without a route to the shadow reaches nothing
    assert router.publish(Message("device:Light", "$aws/things/Light/shadow/update", body)) == 0
    await service.stop()

    again = ShadowService(tmp_path / "shadows")
    await again.start()
    assert again.document("Light")["state"] == {"desired": {"property": "GREEN"}}
    replies = again.handle("Light", "update", b'{"state":{"reported":{"property":"GREEN"}}}')
    assert json.loads(replies[0].payload)["version"] == 2
    assert again.status()["shadows"] == {"Light": 2}


async def test_delete_survives_restart(tmp_path):
    s = ShadowService(tmp_path)
    await s.start()
    s.handle("A", "update", b'{"state":{"reported":{"x":1}}}')
    s.handle("A", "delete", b"")
    s2 = ShadowService(tmp_path)
    await s2.start()
    assert s2.document("A") is None
    assert json.loads(s2.handle("A", "get", b"")[0].payload)["code"] == 404
