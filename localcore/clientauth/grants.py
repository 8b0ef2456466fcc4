"""What the Auth policy grants each client device, summarised for building routes (pure).

The V2 reader turns a deployment into a subscription table and needs, per device, what it may
publish and subscribe to. :func:`device_grants` reads that from the same parsed configuration the
policy engine decides with (:func:`localcore.clientauth.config.parse_device_groups`), so every form
the ``aws.greengrass.clientdevices.Auth`` component accepts counts here too: selection rules with
``OR`` and ``AND`` and ``thingName: X``, ``X*``, ``*X``, ``*X*``, ``*``; operations
``mqtt:connect|publish|subscribe``, ``mqtt:*`` and ``*``; resources ``mqtt:clientId:``,
``mqtt:topic:``, ``mqtt:topicfilter:`` with ``*`` globs (also across the prefix: ``*``, ``mqtt:*``)
and ``${iot:Connection.Thing.ThingName}``, which becomes each device's own name.

A grant with a glob is summarised by the MQTT filter covering every topic it allows
(``mqtt:topic:dev/${iot:Connection.Thing.ThingName}/*`` → ``dev/<thing>/#``); a glob that leaves the
first topic level open grants all topics (``publish_all``/``subscribe_all``). Routes built on these
may be wider than the policy, never narrower: the broker asks the policy on every PUBLISH and
SUBSCRIBE, so a route carries only what the policy allows, and must not miss anything it allows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

from localcore.clientauth.config import THING_NAME_VARIABLE, DeviceGroups, parse_device_groups
from localcore.clientauth.policy import resource_matcher
from localcore.router.topics import intersection, is_wildcard, matches

_TOPIC, _FILTER, _CLIENT = "mqtt:topic:", "mqtt:topicfilter:", "mqtt:clientId:"
_ALL = "*"  # a covering value meaning "every topic"


@dataclass
class Grants:
    """What the Auth policy lets one device do (the union over the device groups that select it)."""

    connect: bool = False  # may connect with its own thing name as client id
    # topics granted one by one, and for glob grants the filter covering them (dev/T/#)
    publish: List[str] = field(default_factory=list)
    # topic filters the device may subscribe to (Auth compares them literally), and covering filters
    subscribe: List[str] = field(default_factory=list)
    publish_all: bool = False
    subscribe_all: bool = False

    def may_publish_matching(self, topic_filter: str) -> List[str]:
        """Where a message this device may publish meets ``topic_filter``: each granted topic the filter
        matches, the part of a covering filter the two share, ``[topic_filter]`` when all is granted."""
        if self.publish_all:
            return [topic_filter]
        out: List[str] = []
        for granted in self.publish:
            if not is_wildcard(granted):
                if matches(topic_filter, granted):
                    out.append(granted)
            else:
                shared = intersection(topic_filter, granted)
                if shared is not None:
                    out.append(shared)
        return list(dict.fromkeys(out))

    def may_subscribe_overlapping(self, topic_filter: str) -> List[str]:
        """The granted filters a topic matching ``topic_filter`` could also match (``[topic_filter]`` when
        all is granted)."""
        if self.subscribe_all:
            return [topic_filter]
        return [f for f in self.subscribe if intersection(f, topic_filter) is not None]

    def routes_to(self, other: "Grants") -> List[str]:
        """Filters on which a message this device may publish reaches ``other`` by one of the
        subscriptions ``other`` may make (device → device pub/sub through the broker)."""
        if self.publish_all:
            # every topic, '$' ones too, which '#' would not match: each filter ``other`` may use
            return ["#"] if other.subscribe_all else list(other.subscribe)
        out: List[str] = []
        for granted in self.publish:
            if other.subscribe_all:
                out.append(granted)
                continue
            for subscribed in other.subscribe:
                if not is_wildcard(granted):
                    if matches(subscribed, granted):
                        out.append(granted)
                        break
                else:
                    shared = intersection(granted, subscribed)
                    if shared is not None:
                        out.append(shared)
        return list(dict.fromkeys(out))

    def _merge(self, other: "Grants") -> None:
        self.connect = self.connect or other.connect
        self.publish_all = self.publish_all or other.publish_all
        self.subscribe_all = self.subscribe_all or other.subscribe_all
        self.publish = list(dict.fromkeys(self.publish + other.publish))
        self.subscribe = list(dict.fromkeys(self.subscribe + other.subscribe))


def _covering(resource: str, prefix: str, filters: bool) -> Optional[str]:
    """The MQTT topic (or filter) the resource pattern grants under ``prefix``, the filter covering all
    of them for a glob, :data:`_ALL` for every topic, ``None`` for none.

    ``filters``: the granted things are topic filters (``+`` is then a level, not a dead grant)."""
    star = resource.find("*")
    if star < 0:
        if not resource.startswith(prefix) or len(resource) == len(prefix):
            return None
        return resource[len(prefix):]
    head = resource[:star]
    if not head.startswith(prefix):
        # the glob may swallow the rest of the prefix (``*``, ``mqtt:*``, ``mqtt:top*``): anything
        return _ALL if prefix.startswith(head) else None
    levels = head[len(prefix):].split("/")
    whole = levels[:-1]  # the last level is only begun: the glob may continue it
    if not whole:
        return _ALL
    for level in whole:
        if "#" in level or ("+" in level and (not filters or level != "+")):
            return None  # no valid topic (or filter) has such a level
    return "/".join(whole) + "/#"


def _grants_of_statements(groups: DeviceGroups, policy_name: str, thing: str) -> Grants:
    g = Grants()
    for statement in groups.policies.get(policy_name, ()):
        ops = set(statement.operations)
        every = "*" in ops or "mqtt:*" in ops
        for resource in statement.resources:
            concrete = resource.replace(THING_NAME_VARIABLE, thing)
            if every or "mqtt:connect" in ops:
                # the broker takes the client id to be the thing name (it refuses any other)
                g.connect = g.connect or resource_matcher(concrete)(_CLIENT + thing)
            if every or "mqtt:publish" in ops:
                topic = _covering(concrete, _TOPIC, filters=False)
                if topic == _ALL:
                    g.publish_all = True
                elif topic is not None:
                    g.publish.append(topic)
            if every or "mqtt:subscribe" in ops:
                topic_filter = _covering(concrete, _FILTER, filters=True)
                if topic_filter == _ALL:
                    g.subscribe_all = True
                elif topic_filter is not None:
                    g.subscribe.append(topic_filter)
    g.publish = list(dict.fromkeys(g.publish))
    g.subscribe = list(dict.fromkeys(g.subscribe))
    return g


def device_grants(auth: Union[DeviceGroups, Any], known: Sequence[str] = ()) -> Dict[str, Grants]:
    """Thing → what the Auth configuration grants it, in the order the device groups name the things.

    ``auth``: the Auth component's configuration (or its ``deviceGroups`` object, or an already parsed
    :class:`DeviceGroups`); a bad one raises :class:`AuthConfigError` with the path of the bad value.
    ``known``: the client devices associated with the core. A rule can select a thing it names exactly
    (``thingName: X``) or one of ``known``; a glob (``X*``, ``*X``, ``*``) selects among ``known`` only.
    """
    groups = auth if isinstance(auth, DeviceGroups) else parse_device_groups(auth)
    out: Dict[str, Grants] = {}
    for group in groups.groups:
        # the rule's exact names first, as it lists them; an escaped colon keeps its backslash in the
        # component's comparison, so such a name selects no real thing
        named = [name for conj in group.rule.terms for name in conj if "*" not in name and "\\" not in name]
        for thing in dict.fromkeys([*named, *known]):
            if not group.rule.matches(thing):
                continue
            out.setdefault(thing, Grants())._merge(_grants_of_statements(groups, group.policy_name, thing))
    return out
