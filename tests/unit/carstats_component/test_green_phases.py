"""com.ggbundle.CarStats's pure part (components/car_stats/green_phases.py): settings from its configuration,
what counts as a green phase, the totals and when they are written, the item and the message; and its recipe."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from group.v2.recipe import load_recipe

FOLDER = Path(__file__).resolve().parents[3] / "components" / "car_stats"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gp = _load(FOLDER / "green_phases.py", "ggbundle_carstats_green_phases")


def docs(previous, current, prop="property"):
    """A documents message whose previous/current reported ``prop`` are the given values (None: absent)."""
    def doc(v):
        return {"state": {"reported": {prop: v}}, "version": 1} if v is not None else {"state": {}}
    return {"previous": doc(previous), "current": doc(current), "timestamp": 1}


# ------------------------------------------------------------------------------------------- green transitions
@pytest.mark.parametrize("documents, green", [
    (docs("R", "G"), True),                 # red -> green: a new phase
    (docs("Y", "G"), True),
    (docs(None, "G"), True),                # the first report ever is green
    ({"current": {"state": {"reported": {"property": "G"}}}}, True),   # no previous document at all
    (docs("G", "G"), False),                # the light reporting green again
    (docs("G", "Y"), False),
    (docs("R", None), False),
    ({"previous": {"state": {"reported": {"property": "R"}}},           # the switch's desired update
      "current": {"state": {"desired": {"property": "G"}, "reported": {"property": "R"}}}}, False),
    ({"current": {"state": {"reported": "G"}}}, False),                # reported is not an object
    ({"current": "G"}, False),
    ({}, False),
])
def test_what_counts_as_a_green_phase(documents, green):
    assert gp.is_green_transition(documents, "property", "G") is green


def test_the_property_and_the_green_value_are_settings():
    assert gp.is_green_transition(docs("red", "green", prop="colour"), "colour", "green")
    assert not gp.is_green_transition(docs("red", "green", prop="colour"), "property", "green")
    assert not gp.is_green_transition(docs("R", "G"), "property", "green")


@pytest.mark.parametrize("payload, want", [
    (b'{"current": {}}', {"current": {}}),
    ('{"current": {}}', {"current": {}}),
    ({"current": {}}, {"current": {}}),
    (bytearray(b"{}"), {}),
])
def test_documents_are_decoded_from_bytes_text_or_json(payload, want):
    assert gp.decode_documents(payload) == want


@pytest.mark.parametrize("payload, message", [
    (b"\xff\xfe", "not UTF-8"),
    (b"{not json", "not JSON"),
    (b"[1, 2]", "got list"),
    (42, "got int"),
])
def test_what_is_not_a_documents_object_says_why(payload, message):
    with pytest.raises(ValueError, match=message):
        gp.decode_documents(payload)


# ------------------------------------------------------------------------------------------- totals
@pytest.mark.parametrize("cars, every, writes", [
    ([5, 7, 2], 3, [False, False, True]),
    ([5, 7, 2, 9, 1, 4], 3, [False, False, True, False, False, True]),
    ([3, 3], 1, [True, True]),
    ([1, 2, 3, 4], 2, [False, True, False, True]),
])
def test_totals_and_every_nth_green_writes(cars, every, writes):
    totals = gp.Totals()
    phases = [totals.record(c, every) for c in cars]
    assert [p.write for p in phases] == writes
    last = phases[-1]
    assert (last.total_traffic, last.total_greenlights) == (sum(cars), len(cars))
    assert (last.min_cars, last.max_cars) == (min(cars), max(cars))
    assert [p.cars for p in phases] == cars


@pytest.mark.parametrize("schedule, writes", [
    # (greens_per_write at each green, which greens write): a change counts greens since the last write
    ([5, 5, 5, 2], [False, False, False, True]),      # lowered below the greens already counted: next green writes
    ([2, 2, 4, 4, 4, 4], [False, True, False, False, False, True]),   # raised after a write
    ([3, 3, 6, 6, 6, 6], [False, False, False, False, False, True]),  # raised before the 3rd green
])
def test_a_changed_greens_per_write_counts_from_the_last_write(schedule, writes):
    totals = gp.Totals()
    assert [totals.record(1, every).write for every in schedule] == writes


@pytest.mark.parametrize("cars, every, message", [(-1, 3, "cars"), (1, 0, "greens_per_write")])
def test_totals_refuse_impossible_input(cars, every, message):
    with pytest.raises(ValueError, match=message):
        gp.Totals().record(cars, every)


# ------------------------------------------------------------------------------------------- settings
def test_settings_from_the_recipe_defaults_and_ignores_access_control():
    config = dict(load_recipe(FOLDER / "recipe.yaml").default_configuration)
    config["statsTopic"] = "ggbundle/GG_Core/carstats"   # as the nucleus interpolates {iot:thingName}
    s = gp.Settings.from_configuration(config)
    assert s == gp.Settings(thing_name="GG_TrafficLight", table_name="CarStatsV2",
                            stats_topic="ggbundle/GG_Core/carstats", greens_per_write=3, light_property="property",
                            green_value="G", min_cars=1, max_cars=20, random_seed=None)
    assert s.documents_topic == "$aws/things/GG_TrafficLight/shadow/update/documents"


@pytest.mark.parametrize("config, field, value", [
    ({"greensPerWrite": "5"}, "greens_per_write", 5),            # a deployment's merge may give text
    ({"greensPerWrite": 2.0}, "greens_per_write", 2),            # JSON numbers
    ({"randomSeed": 99}, "random_seed", 99),
    ({"randomSeed": "-7"}, "random_seed", -7),
    ({"randomSeed": ""}, "random_seed", None),
    ({"minCars": 0, "maxCars": 0}, "max_cars", 0),
    ({"thingName": " Other_Light "}, "thing_name", "Other_Light"),
])
def test_settings_values(config, field, value):
    assert getattr(gp.Settings.from_configuration(config), field) == value


@pytest.mark.parametrize("config, message", [
    ({"greensPerWrite": 0}, "'greensPerWrite' must be an integer of at least 1, got 0"),
    ({"greensPerWrite": "three"}, "'greensPerWrite' must be an integer of at least 1, got 'three'"),
    ({"greensPerWrite": True}, "'greensPerWrite' must be an integer"),
    ({"greensPerWrite": 2.5}, "'greensPerWrite' must be an integer"),
    ({"greensPerWrite": "--3"}, "'greensPerWrite' must be an integer"),
    ({"minCars": 5, "maxCars": 4}, "'maxCars' must be an integer of at least 5, got 4"),
    ({"minCars": -1}, "'minCars' must be an integer of at least 0"),
    ({"tableName": ""}, "'tableName' must be a non-empty string"),
    ({"thingName": 7}, "'thingName' must be a non-empty string, got 7"),
    ({"statsTopic": "stats/#"}, "'statsTopic' must be a topic without wildcards"),
    ({"statsTopic": "ggbundle/{iot:thingName}/carstats"}, "still holds a recipe variable"),
    ({"randomSeed": "x"}, "'randomSeed' must be an integer"),
])
def test_bad_settings_name_the_key_and_the_value(config, message):
    with pytest.raises(gp.SettingsError, match=message.replace("{", r"\{").replace("}", r"\}")):
        gp.Settings.from_configuration(config)


def test_settings_need_an_object():
    with pytest.raises(gp.SettingsError, match="must be a JSON object, got list"):
        gp.Settings.from_configuration([])


def test_changed_keys_lists_what_differs():
    old = gp.Settings()
    new = gp.Settings.from_configuration({"greensPerWrite": 5, "tableName": "Other"})
    assert gp.changed_keys(old, new) == {"greens_per_write": 5, "table_name": "Other"}
    assert gp.changed_keys(old, old) == {}


# ------------------------------------------------------------------------------------------- output
def test_the_item_has_the_lambdas_attributes_and_says_who_wrote_it():
    phase = gp.Totals()
    for c in (4, 9, 2):
        p = phase.record(c, 3)
    item = gp.stats_item(p, "2026-01-02T03:04:05+00:00", "GG_Core")
    assert item == {"Time": "2026-01-02T03:04:05+00:00", "TotalTraffic": 15, "TotalGreenlights": 3,
                    "MinCarsPassing": 2, "MaxCarsPassing": 9, "CoreDevice": "GG_Core",
                    "Writer": "com.ggbundle.CarStats"}
    message = gp.stats_message(item, "CarStatsV2")
    assert json.loads(message) == {**item, "Table": "CarStatsV2"}
    assert message == gp.stats_message(dict(reversed(list(item.items()))), "CarStatsV2")   # sorted keys


# ------------------------------------------------------------------------------------------- recipe
def test_the_recipe_grants_only_the_documents_topic_and_its_iot_core_topic():
    recipe = load_recipe(FOLDER / "recipe.yaml")
    assert recipe.name == "com.ggbundle.CarStats"
    config = recipe.default_configuration
    access = config["accessControl"]
    assert set(access) == {"aws.greengrass.ipc.pubsub", "aws.greengrass.ipc.mqttproxy"}
    (pubsub,) = access["aws.greengrass.ipc.pubsub"].values()
    (mqtt,) = access["aws.greengrass.ipc.mqttproxy"].values()
    assert pubsub["operations"] == ["aws.greengrass#SubscribeToTopic"]
    assert pubsub["resources"] == [gp.documents_topic(config["thingName"])]
    assert mqtt["operations"] == ["aws.greengrass#PublishToIoTCore"]
    assert mqtt["resources"] == [config["statsTopic"]]
    assert config["tableName"] != "CarStats"      # never the car_aggregator Lambda's table
    assert recipe.dependency("aws.greengrass.TokenExchangeService").dependency_type == "HARD"
    manifest = recipe.select_manifest({"os": "linux", "architecture": "amd64"})
    files = {a.file_name for a in manifest.artifacts}
    assert files == {"carstats.py", "green_phases.py", "requirements.txt"}
    assert all((FOLDER / f).is_file() for f in files)
    assert "{configuration:" not in manifest.lifecycle.run.script   # settings over IPC: changes need no restart
