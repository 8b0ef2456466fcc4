"""The cloud → local poller's rules, with the cloud and the local shadow as plain dicts."""
from localcore.shadow.sync import CloudDesiredPoller


class Outbound:
    def __init__(self, pending=False, sent=None):
        self.pending, self.sent = pending, sent

    def has_pending(self, thing):
        return self.pending

    def sent_desired(self, thing):
        return self.sent


def make(cloud, local, outbound):
    applied = []
    poller = CloudDesiredPoller(["T"], lambda t: cloud.get(t), lambda t, p: applied.append(p),
                                lambda t: local.get(t), outbound=outbound)
    return poller, applied


def test_local_ahead_then_echo_then_real_cloud_change():
    cloud = {"T": {"version": 5, "state": {"desired": {"c": "G"}}}}
    local = {"T": {"c": "Y"}}
    out = Outbound(pending=True, sent={"c": "G"})
    poller, applied = make(cloud, local, out)
    assert poller.poll_once() == 0 and applied == []  # a local change is still on its way up
    out.pending = False
    assert poller.poll_once() == 0  # G is what we sent last: our own echo, superseded by Y
    cloud["T"] = {"version": 6, "state": {"desired": {"c": "R"}}}
    assert poller.poll_once() == 1 and applied == [b'{"state":{"desired":{"c":"R"}}}']
    assert poller.poll_once() == 0  # version 6 already handled


def test_keys_removed_in_the_cloud_are_removed_locally():
    cloud = {"T": {"version": 1, "state": {"desired": {"a": 1}}}}
    poller, applied = make(cloud, {"T": {"a": 1, "b": 2}}, None)
    assert poller.poll_once() == 1 and applied == [b'{"state":{"desired":{"a":1,"b":null}}}']


def test_no_shadow_in_the_cloud_or_an_error_applies_nothing():
    def broken(thing):
        raise ConnectionError("down")

    poller = CloudDesiredPoller(["T"], broken, lambda t, p: None, lambda t: None)
    assert poller.poll_once() == 0 and poller.status()["failed"] == 1
    poller2, applied = make({}, {}, None)
    assert poller2.poll_once() == 0 and applied == []
