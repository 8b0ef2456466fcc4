"""The ShadowManager's configuration, read as aws-greengrass-shadow-manager reads it."""
import pytest

from localcore.shadow.errors import ShadowManagerConfigError
from localcore.shadow.manager_config import (DEFAULT_DOCUMENT_SIZE, RateLimits, ShadowManagerConfig, Strategy,
                                             coerce_bool, coerce_int, parse)

CORE = "GG_Core"


def test_defaults():
    assert parse(None, CORE) == parse({}, CORE) == ShadowManagerConfig()
    cfg = parse({}, CORE)
    assert cfg.synced == frozenset() and cfg.direction == "betweenDeviceAndCloud"
    assert cfg.strategy == Strategy("realTime", 0)
    assert cfg.rate_limits == RateLimits(100, 200, 20)
    assert cfg.max_document_bytes == DEFAULT_DOCUMENT_SIZE == 8192


@pytest.mark.parametrize("synchronize, synced", [
    # classic defaults to true; named shadows beside it
    ({"coreThing": {}}, {(CORE, "")}),
    ({"coreThing": {"classic": False, "namedShadows": ["a", "b"]}}, {(CORE, "a"), (CORE, "b")}),
    ({"shadowDocuments": [{"thingName": "Dev", "namedShadows": ["cfg"]}]}, {("Dev", ""), ("Dev", "cfg")}),
    ({"shadowDocuments": [{"thingName": "Dev", "classic": "false"}]}, set()),      # "false" is not true
    ({"shadowDocuments": [{"thingName": "Dev", "classic": 0, "namedShadows": ["x"]}]}, {("Dev", "x")}),
    ({"shadowDocumentsMap": {"A": {"classic": "yes"}, "B": {"classic": False, "namedShadows": ["n"]}}},
     {("A", ""), ("B", "n")}),
    # the map and the list together; unknown keys are ignored
    ({"shadowDocumentsMap": {"A": {}}, "shadowDocuments": [{"thingName": "B", "other": 1}], "extra": True},
     {("A", ""), ("B", "")}),
    ({"coreThing": None}, set()),
])
def test_synced_shadows(synchronize, synced):
    assert parse({"synchronize": synchronize}, CORE).synced == frozenset(synced)


def test_core_thing_unknown_is_checked_not_resolved():
    cfg = parse({"synchronize": {"coreThing": {"namedShadows": ["a"]}}}, None)
    assert cfg.synced == frozenset() and cfg.syncs_core_thing
    with pytest.raises(ShadowManagerConfigError, match="ShadowName must match pattern"):
        parse({"synchronize": {"coreThing": {"namedShadows": ["a/b"]}}}, None)


@pytest.mark.parametrize("direction, expected", [
    (None, "betweenDeviceAndCloud"), ("deviceToCloud", "deviceToCloud"), ("CLOUDTODEVICE", "cloudToDevice"),
    ("betweendeviceandcloud", "betweenDeviceAndCloud")])
def test_direction(direction, expected):
    sync = {} if direction is None else {"direction": direction}
    assert parse({"synchronize": sync}, CORE).direction == expected


@pytest.mark.parametrize("strategy, expected", [
    ({"type": "realTime"}, Strategy("realTime", 0)),
    ({"type": "periodic", "delay": 300}, Strategy("periodic", 300)),
    ({"type": "periodic", "delay": "5"}, Strategy("periodic", 5)),
    ({}, Strategy()),
])
def test_strategy(strategy, expected):
    assert parse({"strategy": strategy}, CORE).strategy == expected


def test_rate_limits_and_size():
    cfg = parse({"rateLimits": {"maxOutboundSyncUpdatesPerSecond": "7", "maxTotalLocalRequestsRate": 50,
                                "maxLocalRequestsPerSecondPerThing": 1.9},
                 "shadowDocumentSizeLimitBytes": "30720"}, CORE)
    assert cfg.rate_limits == RateLimits(7, 50, 1)
    assert cfg.max_document_bytes == 30720
    assert parse({"shadowDocumentSizeLimitBytes": 0}, CORE).max_document_bytes == 8192


@pytest.mark.parametrize("config, text", [
    ({"synchronize": []}, "synchronize: Unexpected type in synchronize: java.util.ArrayList"),
    ({"synchronize": {"direction": "sideways"}}, "synchronize: Unknown direction value."),
    ({"synchronize": {"shadowDocuments": {"thingName": "A"}}},
     "synchronize: Unexpected type in shadowDocuments: java.util.LinkedHashMap"),
    ({"synchronize": {"shadowDocuments": ["A"]}}, "synchronize: Unexpected type in shadowDocuments: java.lang.String"),
    ({"synchronize": {"shadowDocuments": [{"classic": True}]}}, "synchronize: Unexpected type in thingName: None"),
    ({"synchronize": {"shadowDocuments": [{"thingName": ""}]}}, "synchronize: Unexpected value in thingName: "),
    ({"synchronize": {"shadowDocuments": [{"thingName": "bad name"}]}},
     "synchronize: ThingName must match pattern [a-zA-Z0-9:_-]+"),
    ({"synchronize": {"shadowDocumentsMap": {"A": {"namedShadows": "x"}}}},
     "synchronize: Unexpected type in namedShadows: java.lang.String"),
    ({"synchronize": {"shadowDocumentsMap": {"A": {"namedShadows": ["n" * 65]}}}},
     "synchronize: ShadowName has a maximum length of 64"),
    ({"synchronize": {"shadowDocumentsMap": {"t" * 129: {}}}}, "synchronize: ThingName has a maximum length of 128"),
    ({"strategy": {"type": "sometimes"}}, "strategy: Unexpected value sometimes for strategy type configuration"),
    ({"strategy": {"delay": 5}}, "strategy: Unexpected value null for strategy type configuration"),
    ({"strategy": {"type": "periodic"}}, "strategy: strategy periodic needs a delay greater than 0 seconds"),
    ({"rateLimits": {"maxTotalLocalRequestsRate": 0}},
     "rateLimits: Maximum total local shadow request rate per second provided 0 is invalid. It should be greater "
     "than 0."),
    ({"rateLimits": {"maxLocalRequestsPerSecondPerThing": "none"}},
     "rateLimits: Maximum local shadow requests per thing per second provided 0 is invalid."),
    ({"rateLimits": {"maxOutboundSyncUpdatesPerSecond": -1}},
     "rateLimits: Maximum outbound sync update per second provided -1 is invalid."),
    ({"shadowDocumentSizeLimitBytes": 30721},
     "shadowDocumentSizeLimitBytes: Maximum shadow size provided 30721 is either less than 0 or exceeds default "
     "maximum shadow size of 30720"),
])
def test_refused(config, text):
    with pytest.raises(ShadowManagerConfigError) as e:
        parse(config, CORE)
    assert str(e.value).startswith(text)


@pytest.mark.parametrize("value, expected", [(True, 1), (3.9, 3), ("12", 12), (" -4x", -4), ("abc", 0), (None, 0)])
def test_coerce_int(value, expected):
    assert coerce_int(value) == expected


@pytest.mark.parametrize("value, expected", [(True, True), (1, True), (0, False), ("true", True), ("on", True),
                                             ("Y", True), ("True", False), ("false", False), (None, False)])
def test_coerce_bool(value, expected):
    assert coerce_bool(value) is expected
