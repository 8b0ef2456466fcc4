"""Traffic-light shadow vocabulary shared by the switch and the light (pure, plus a reply waiter).

Shadow document of GG_TrafficLight: ``{"state": {"desired"|"reported": {"property": "G"|"Y"|"R"}}}``.
"""
from __future__ import annotations

import json
import threading
from typing import Dict, Iterator, Optional, Tuple

LIGHTS = ("G", "Y", "R")
PROPERTY = "property"


def next_light(current: str) -> str:
    """G -> Y -> R -> G."""
    if current not in LIGHTS:
        raise ValueError("unknown light {!r}; expected one of {}".format(current, ", ".join(LIGHTS)))
    return LIGHTS[(LIGHTS.index(current) + 1) % len(LIGHTS)]


def light_sequence(start: str = "G", cycles: int = 0) -> Iterator[str]:
    """Lights to set in order: ``cycles`` full G/Y/R rounds from ``start``, or forever with 0."""
    light = start
    next_light(start)  # validates start
    steps = 0
    while not cycles or steps < cycles * len(LIGHTS):
        yield light
        light = next_light(light)
        steps += 1


def desired_update(light: str, prop: str = PROPERTY) -> str:
    """The switch's shadowUpdate payload."""
    next_light(light)
    return json.dumps({"state": {"desired": {prop: light}}})


def _load(payload: str) -> Dict[str, object]:
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise ValueError("shadow payload is not JSON: {}".format(exc)) from None
    if not isinstance(data, dict):
        raise ValueError("shadow payload is JSON {}, expected an object".format(type(data).__name__))
    return data


def light_from_delta(payload: str, prop: str = PROPERTY) -> Optional[str]:
    """The light a delta asks for (``{"state": {"property": "Y"}, "version": 7}``), or None if it names none.

    ValueError when the payload is not JSON or asks for a light that does not exist.
    """
    state = _load(payload).get("state")
    if not isinstance(state, dict) or prop not in state:
        return None
    light = state[prop]
    if light not in LIGHTS:
        raise ValueError("delta asks for light {!r}; expected one of {}".format(light, ", ".join(LIGHTS)))
    return light


def light_from_document(payload: str, prop: str = PROPERTY) -> Optional[str]:
    """From a shadowGet document: the light still to apply (its ``state.delta``), or None."""
    delta = _load(payload).get("state", {})
    delta = delta.get("delta") if isinstance(delta, dict) else None
    if not isinstance(delta, dict):
        return None
    return light_from_delta(json.dumps({"state": delta}), prop)


def reported_update(light: str, prop: str = PROPERTY) -> str:
    """The light's shadowUpdate payload after it changed."""
    next_light(light)
    return json.dumps({"state": {"reported": {prop: light}}})


class ShadowReplies:
    """Collects shadow callbacks by token so the main thread can wait for its own request's answer.

    Pass :meth:`callback` to shadowGet / shadowUpdate and :meth:`wait` for the token they return.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._replies = {}  # type: Dict[str, Tuple[str, str]]

    def callback(self, payload: str, response_status: str, token: Optional[str]) -> None:
        if token is None:
            return
        with self._condition:
            self._replies[token] = (response_status, payload)
            self._condition.notify_all()

    def wait(self, token: str, timeout: float) -> Optional[Tuple[str, str]]:
        """``(status, payload)`` with status accepted / rejected / timeout, or None if nothing came."""
        with self._condition:
            self._condition.wait_for(lambda: token in self._replies, timeout)
            return self._replies.pop(token, None)
