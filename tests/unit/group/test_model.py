"""Every validation rule of group/model.py, driven by a table of broken group files."""
import copy
import re

import pytest
import yaml

from group.errors import GroupValidationError
from group.model import load
from group import topics

BASE = {
    "group": {"name": "g1", "region": "us-east-1"},
    "core": {"thing": "GG_Core", "ram_mb": 512},
    "devices": [{"thing": "Dev_A"}, {"thing": "Dev_B"}],
    "functions": [
        {"name": "pinned_fn", "pinned": True, "memory_mb": 128, "timeout_s": 3},
        {"name": "ondemand_fn", "memory_mb": 64, "timeout_s": 5},
    ],
    "subscriptions": [
        {"source": "Dev_A", "target": "Dev_B", "topic": "a/b"},
        {"source": "cloud", "target": "ondemand_fn", "topic": "trigger/#"},
        {"source": "Dev_A", "target": "shadow:Dev_A", "topic": "$aws/things/Dev_A/shadow/update"},
        {"source": "shadow:Dev_A", "target": "Dev_A", "topic": "$aws/things/Dev_A/shadow/update/delta"},
    ],
    "resources": [{"name": "cam", "device": "/dev/video0"}, {"name": "vol", "volume": {"source": "/tmp/x", "dest": "/tmp/x"}}],
}


def write_bundle(tmp_path, data, with_code=True):
    (tmp_path / "group").mkdir(exist_ok=True)
    f = tmp_path / "group" / "group.yaml"
    f.write_text(yaml.safe_dump(data))
    if with_code:
        for fn in data.get("functions", []):
            d = tmp_path / "lambdas" / fn["name"]
            d.mkdir(parents=True, exist_ok=True)
            (d / "handler.py").write_text("def function_handler(event, context):\n    return event\n")
    return f


def errors_of(tmp_path, data, with_code=True):
    f = write_bundle(tmp_path, data, with_code)
    with pytest.raises(GroupValidationError) as exc:
        load(f)
    return [i for i in exc.value.issues if i.severity == "error"]


def mutate(fn):
    data = copy.deepcopy(BASE)
    fn(data)
    return data


def test_base_is_valid(tmp_path):
    g, issues = load(write_bundle(tmp_path, BASE))
    assert [i for i in issues if i.severity == "error"] == []
    assert g.endpoint("Dev_A") == "device:Dev_A"
    assert g.endpoint("ondemand_fn") == "function:ondemand_fn"
    assert g.endpoint("shadow:Dev_A") == "shadow:Dev_A"
    assert ("sub-1", "cloud", "function:ondemand_fn", "trigger/#") in g.routes()


CASES = [
    # (id, mutation, expected path, expected text in message)
    ("unknown key", lambda d: d["functions"][0].update(memroy_mb=1), "functions[0].memroy_mb", "unknown key"),
    ("unknown top key", lambda d: d.update(extra=1), "extra", "unknown key"),
    ("wrong type", lambda d: d["functions"][1].update(timeout_s="soon"), "functions[1].timeout_s", "integer"),
    ("missing key", lambda d: d["core"].pop("thing"), "core.thing", "Field required"),
    ("duplicate function", lambda d: d["functions"].append(dict(d["functions"][0])), "functions[2]",
     "duplicate function name"),
    ("duplicate device", lambda d: d["devices"].append({"thing": "Dev_A"}), "devices[2]", "duplicate device"),
    ("duplicate resource", lambda d: d["resources"].append({"name": "cam", "device": "/dev/video1"}),
     "resources[2]", "duplicate resource"),
    ("dangling source", lambda d: d["subscriptions"].append({"source": "Nobody", "target": "cloud", "topic": "x"}),
     "subscriptions[4].source", "'Nobody' is not a device"),
    ("dangling target", lambda d: d["subscriptions"].append({"source": "Dev_A", "target": "ghost_fn", "topic": "x"}),
     "subscriptions[4].target", "'ghost_fn'"),
    ("dangling shadow", lambda d: d["subscriptions"].append(
        {"source": "Dev_A", "target": "shadow:Unknown", "topic": "$aws/things/Unknown/shadow/update"}),
     "subscriptions[4].target", "shadow:Unknown"),
    ("pubsub is the V2 reader's, not group.yaml's", lambda d: d["subscriptions"].append(
        {"source": "pubsub", "target": "cloud", "topic": "x"}), "subscriptions[4].source", "'pubsub' is not a device"),
    ("dangling resource", lambda d: d["functions"][0].update(resources=[{"ref": "nope"}]),
     "functions[0].resources[0].ref", "unknown resource 'nope'"),
    ("hash not last", lambda d: d["subscriptions"][0].update(topic="a/#/b"), "subscriptions[0].topic", "'#' must be"),
    ("plus inside level", lambda d: d["subscriptions"][0].update(topic="a/b+/c"), "subscriptions[0].topic",
     "'+' must fill"),
    ("topic too long", lambda d: d["subscriptions"][0].update(topic="t/" + "x" * 260), "subscriptions[0].topic",
     "bytes"),
    ("too many levels", lambda d: d["subscriptions"][0].update(topic="a/b/c/d/e/f/g/h/i"), "subscriptions[0].topic",
     "at most 7"),
    ("empty topic", lambda d: d["subscriptions"][0].update(topic=""), "subscriptions[0].topic", "empty"),
    ("pinned without memory", lambda d: d["functions"][0].pop("memory_mb"), "functions[0].memory_mb",
     "needs memory_mb"),
    ("pinned with pool", lambda d: d["functions"][0].update(max_instances=3), "functions[0].max_instances",
     "pinned"),
    ("nocontainer memory", lambda d: d["functions"][1].update(isolation="NoContainer"), "functions[1].memory_mb",
     "NoContainer"),
    ("nocontainer device", lambda d: d["functions"][1].update(isolation="NoContainer", resources=[{"ref": "cam"}])
     or d["functions"][1].pop("memory_mb"), "functions[1].resources[0]", "device resource"),
    ("memory too small", lambda d: d["functions"][1].update(memory_mb=8), "functions[1].memory_mb", "outside 16..512"),
    ("memory above core ram", lambda d: d["functions"][1].update(memory_mb=4096), "functions[1].memory_mb",
     "outside 16..512"),
    ("timeout zero", lambda d: d["functions"][1].update(timeout_s=0), "functions[1].timeout_s", "must be > 0"),
    ("timeout negative", lambda d: d["functions"][1].update(timeout_s=-3), "functions[1].timeout_s", "must be > 0"),
    ("duplicate subscription", lambda d: d["subscriptions"].append(dict(d["subscriptions"][0])), "subscriptions[4]",
     "duplicate subscription"),
    ("self subscription", lambda d: d["subscriptions"].append({"source": "Dev_A", "target": "Dev_A", "topic": "x"}),
     "subscriptions[4]", "never routes back"),
    ("shadow target wrong topic", lambda d: d["subscriptions"].append(
        {"source": "Dev_B", "target": "shadow:Dev_A", "topic": "other/topic"}), "subscriptions[4].topic",
     "can never carry requests"),
    ("shadow source wrong thing", lambda d: d["subscriptions"].append(
        {"source": "shadow:Dev_A", "target": "Dev_B", "topic": "$aws/things/Dev_B/shadow/update/delta"}),
     "subscriptions[4].topic", "can never carry messages from"),
    ("bad runtime", lambda d: d["functions"][0].update(runtime="python2.7"), "functions[0].runtime",
     "not an AWS Lambda Python runtime"),
    ("bad encoding", lambda d: d["functions"][0].update(encoding="xml"), "functions[0].encoding", "json"),
    ("resource both kinds", lambda d: d["resources"][0].update(volume={"source": "/a", "dest": "/a"}),
     "resources[0]", "exactly one"),
    ("device is core", lambda d: d["devices"].append({"thing": "GG_Core"}), "devices[2].thing", "core's thing"),
    ("docker connector params", lambda d: d.update(connectors=[{
        "name": "docker", "arn": "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/7",
        "parameters": {}}]), "connectors[0].parameters", "DockerComposeFileS3Bucket"),
    ("missing library dir", lambda d: d["functions"][0].update(libraries=["lambdas/_nolib"]),
     "functions[0].libraries[0]", "does not exist"),
    ("bad connector arn", lambda d: d.update(connectors=[{"name": "c", "arn": "arn:nope"}]), "connectors[0].arn",
     "pattern"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_broken_file_is_reported(tmp_path, case):
    _, fn, path, text = case
    errs = errors_of(tmp_path, mutate(fn))
    hits = [e for e in errs if e.path == path and text in e.message]
    assert hits, f"expected {path!r} containing {text!r}; got:\n" + "\n".join(map(str, errs))
    assert all(e.file.endswith("group.yaml") for e in errs)


def test_all_errors_at_once(tmp_path):
    data = mutate(lambda d: (d["functions"][0].update(timeout_s=0),
                             d["subscriptions"][0].update(topic="a/#/b"),
                             d["devices"].append({"thing": "Dev_A"})))
    paths = {e.path for e in errors_of(tmp_path, data)}
    assert {"functions[0].timeout_s", "subscriptions[0].topic", "devices[2]"} <= paths


def test_missing_handler_is_error_unless_pending(tmp_path):
    errs = errors_of(tmp_path, BASE, with_code=False)
    assert {e.path for e in errs} == {"functions[0].handler", "functions[1].handler"}
    data = mutate(lambda d: [f.update(code="pending") for f in d["functions"]])
    _, issues = load(write_bundle(tmp_path, data, with_code=False))
    assert [i.severity for i in issues if i.path.endswith(".code")] == ["warning", "warning"]


def test_yaml_syntax_error_names_line(tmp_path):
    (tmp_path / "group").mkdir()
    f = tmp_path / "group" / "group.yaml"
    f.write_text("group: {name: x\ncore: [\n")
    with pytest.raises(GroupValidationError) as exc:
        load(f)
    assert exc.value.issues[0].path.startswith("line ")


def test_error_text_names_file_path_and_fix(tmp_path):
    errs = errors_of(tmp_path, mutate(lambda d: d["functions"][1].update(memory_mb=8)))
    text = str(next(e for e in errs if e.path == "functions[1].memory_mb"))
    assert re.search(r"group\.yaml:\d+: functions\[1\]\.memory_mb: error:", text) and "fix:" in text


def test_the_real_group_file_is_valid():
    from pathlib import Path
    root = Path(__file__).resolve().parents[3]
    g, issues = load(root / "group" / "group.yaml")
    assert [str(i) for i in issues if i.severity == "error"] == []
    assert {"producer", "aggregator", "reader", "stream_reader", "hello_world", "car_aggregator",
            "webcam", "s3_uploader"} <= {f.name for f in g.functions}


@pytest.mark.parametrize("a,b,overlap", [
    ("$aws/things/T/shadow/update", "$aws/things/T/shadow/update", True),
    ("$aws/things/T/shadow/#", "$aws/things/T/shadow/update/delta", True),
    ("$aws/things/+/shadow/get", "$aws/things/T/shadow/update", False),
    ("a/b", "a/b/c", False), ("a/+", "a/b", True),
])
def test_filters_overlap(a, b, overlap):
    assert topics.filters_overlap(a, b) is overlap


TOPIC_CASES = [
    ("a/b", []), ("#", []), ("+", []), ("a/+/c", []), ("a//b", []), ("$aws/things/T/shadow/update/#", []),
    ("a/#/b", ["'#' must be"]), ("a#", ["'#' must be"]), ("a/b+", ["'+' must fill"]), ("", ["empty"]),
    ("a/b/c/d/e/f/g/h", []), ("a/b/c/d/e/f/g/h/i", ["at most 7"]),
    ("$aws/a/b/c/d/e/f/g/h/i", []),
]


@pytest.mark.parametrize("flt,expected", TOPIC_CASES)
def test_filter_problems(flt, expected):
    problems = topics.filter_problems(flt)
    assert len(problems) == len(expected)
    for p, e in zip(problems, expected):
        assert e in p
