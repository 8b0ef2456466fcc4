import pytest

import basic_discovery
import light_controller
import traffic_light

CREDS = ["-e", "127.0.0.1", "-r", "root.pem", "-c", "cert.pem", "-k", "key.pem"]


def test_basic_discovery_flags_of_the_aws_sample():
    args = basic_discovery.parse_args(CREDS + ["-n", "HelloWorld_Subscriber", "-t", "hello/world/pubsub",
                                               "-m", "subscribe", "-M", "hi", "-p", "9443", "--count", "3",
                                               "--duration", "2.5"])
    assert (args.host, args.rootCAPath, args.certificatePath, args.privateKeyPath) == tuple(CREDS[1::2])
    assert (args.thingName, args.clientId, args.topic, args.mode, args.message) == (
        "HelloWorld_Subscriber", "HelloWorld_Subscriber", "hello/world/pubsub", "subscribe", "hi")
    assert (args.discoveryPort, args.count, args.duration, args.interval) == (9443, 3, 2.5, 1.0)


def test_basic_discovery_defaults():
    args = basic_discovery.parse_args(CREDS)
    assert (args.thingName, args.mode, args.discoveryPort, args.count, args.duration) == (
        "HelloWorld_Publisher", "both", 8443, 0, 0.0)
    assert (args.discoveryAttempts, args.groupCaDir, args.printOnly) == (10, "./groupCA", False)


@pytest.mark.parametrize("extra, problem", [
    (["-m", "listen"], "invalid choice: 'listen'"),
    (["-p", "70000"], "a port is 1..65535"),
    (["-p", "x"], "expected a whole number"),
    (["--count", "-1"], "--count: expected a number >= 0"),
    (["--interval", "0"], "expected a number > 0"),
])
def test_bad_flags_say_which(extra, problem, capsys):
    with pytest.raises(SystemExit) as exit_info:
        basic_discovery.parse_args(CREDS + extra)
    assert exit_info.value.code == 2
    assert problem in capsys.readouterr().err


def test_credentials_are_required(capsys):
    with pytest.raises(SystemExit):
        basic_discovery.parse_args(["-e", "h"])
    assert "-r/--rootCA" in capsys.readouterr().err


def test_switch_drives_the_light_shadow_as_itself():
    args = light_controller.parse_args(CREDS + ["--cycles", "2", "--interval", "0.5"])
    assert (args.thingName, args.clientId, args.cycles, args.interval, args.start) == (
        "GG_TrafficLight", "GG_Switch", 2, 0.5, "G")
    assert light_controller.parse_args(CREDS + ["--clientId", "Other"]).clientId == "Other"


def test_traffic_light_arguments():
    args = traffic_light.parse_args(CREDS + ["--max-changes", "3"])
    assert (args.thingName, args.clientId, args.maxChanges, args.duration) == (
        "GG_TrafficLight", "GG_TrafficLight", 3, 0.0)


def test_message_payload_and_run_limits():
    assert basic_discovery.message_payload("hi", 4) == '{"message": "hi", "sequence": 4}'
    now = [100.0]
    run = basic_discovery.Run(count=2, duration=5, clock=lambda: now[0])
    assert run.remaining_time() == 5 and not run.timed_out()
    run.on_message("t", "a")
    assert not run.stop.is_set()
    run.on_message("t", "b")
    assert run.stop.is_set() and run.received == ["a", "b"]
    run.on_published()
    assert not run.publishing_done()
    run.on_published()
    assert run.publishing_done()
    now[0] = 105.0
    assert run.timed_out()
    unlimited = basic_discovery.Run(count=0, duration=0)
    assert unlimited.remaining_time() is None and not unlimited.timed_out() and not unlimited.publishing_done()
