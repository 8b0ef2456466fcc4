"""The components' ``configuration`` trees as the nucleus keeps them: values with modification times (pure).

Follows aws-greengrass/aws-greengrass-nucleus ``config/Topics``, ``config/Topic`` (``updateFromMap``,
``withNewerValue``, ``childChanged``) and ``builtin/services/configstore/ConfigStoreIPCEventStreamAgent``:

* keys are case-insensitive and keep the spelling they were created with; leaves hold a value and the time it
  was last set (milliseconds); a container's time is the newest of its children's (its creation time while empty);
* a merge (MERGE behaviour) sets each leaf whose proposed time is not older than its own and whose value differs; a
  proposed value older than the leaf is ignored; a map replaces a leaf and a value replaces a map;
* ``UpdateConfiguration``: ``keyPath`` names the *container* merged into (created, with the current time, when
  missing); a path to a leaf merges ``{leaf: valueToMerge}`` into its parent; afterwards a node at ``keyPath`` newer
  than the request's timestamp fails with ``FailedUpdateConditionCheckError`` (what was merged stays, as in the
  nucleus); ``accessControl`` may not be changed this way;
* a deployment replaces a component's configuration: only the leaves that differ change (their time is the
  deployment's), the others keep their times;
* watchers (``SubscribeToConfigurationUpdate``) get one event per changed, added or removed node at or below the
  node they watch, with its path from ``configuration``; no event for the state at subscription time, none for a
  merge that changes nothing.

Not thread-safe: the IPC handlers and the deployment hook call it on the core's event loop.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from .errors import FailedUpdateConditionCheckError, InvalidArgumentsError, ResourceNotFoundError

KEY_NOT_FOUND = "Key not found"
RESTRICTED = ("accessControl",)

#: a watcher: (component, key path of the changed node) -> None
Listener = Callable[[str, list], None]


@dataclass(eq=False)
class _Leaf:
    name: str
    value: Any
    modtime: int


@dataclass(eq=False)
class _Map:
    name: str
    created: int
    children: dict = field(default_factory=dict)   # lower-case key -> _Leaf | _Map

    @property
    def modtime(self) -> int:
        if not self.children:
            return self.created
        return max(c.modtime for c in self.children.values())


def _to_value(node: Any) -> Any:
    if isinstance(node, _Leaf):
        return copy.deepcopy(node.value)
    return {c.name: _to_value(c) for c in node.children.values()}


def _leaf_paths(node: Any, prefix: list) -> list:
    if isinstance(node, _Leaf):
        return [prefix]
    out = []
    for c in node.children.values():
        out += _leaf_paths(c, prefix + [c.name])
    return out or [prefix]


def millis(timestamp_s: float) -> int:
    """Epoch seconds with a fraction (the IPC wire form) → milliseconds, truncated as Java's ``toEpochMilli``."""
    return int(math.floor(timestamp_s * 1000 + 1e-6))


class _Tree:
    """One component's ``configuration`` node."""

    def __init__(self, value: Mapping[str, Any], now: int) -> None:
        self.root = _Map("configuration", now)
        self._merge_into(self.root, value, now, now, [], [])

    def find(self, path: Sequence[str]) -> Any:
        node: Any = self.root
        for key in path:
            if not isinstance(node, _Map):
                return None
            node = node.children.get(str(key).lower())
            if node is None:
                return None
        return node

    def spelled(self, path: Sequence[str]) -> list:
        """``path`` with each existing key as stored."""
        out, node = [], self.root
        for key in path:
            child = node.children.get(str(key).lower()) if isinstance(node, _Map) else None
            if child is None:
                out.append(str(key))
                node = None
            else:
                out.append(child.name)
                node = child
        return out

    def ensure_map(self, path: Sequence[str], now: int, changes: list) -> _Map:
        node = self.root
        walked: list = []
        for key in path:
            child = node.children.get(str(key).lower())
            if not isinstance(child, _Map):
                if isinstance(child, _Leaf):
                    changes.append(walked + [child.name])
                child = _Map(str(key), now)
                node.children[str(key).lower()] = child
            walked.append(child.name)
            node = child
        return node

    def _merge_into(self, node: _Map, value: Mapping[str, Any], ts: int, now: int, prefix: list,
                    changes: list) -> None:
        for key, new in value.items():
            key = str(key)
            low = key.lower()
            existing = node.children.get(low)
            if isinstance(new, Mapping):
                if isinstance(existing, _Map):
                    child = existing
                else:
                    if isinstance(existing, _Leaf):
                        changes.append(prefix + [existing.name])   # a leaf replaced by a map: removed
                        child = _Map(key, ts)
                    else:
                        child = _Map(key, now)
                    node.children[low] = child
                self._merge_into(child, new, ts, now, prefix + [child.name], changes)
                continue
            if isinstance(existing, _Map):
                changes.append(prefix + [existing.name])             # a map replaced by a value
                existing = None
            if existing is None:
                node.children[low] = _Leaf(key, copy.deepcopy(new), ts)
                changes.append(prefix + [key])
            elif existing.value == new:
                if ts > existing.modtime:
                    existing.modtime = ts                           # timestampUpdated: no event
            elif ts >= existing.modtime:
                existing.value, existing.modtime = copy.deepcopy(new), ts
                changes.append(prefix + [existing.name])

    def merge(self, path: Sequence[str], value: Mapping[str, Any], ts: int, now: int) -> tuple[list, int]:
        """``UpdateConfiguration``'s merge; returns (changed paths, the time the merge used)."""
        changes: list = []
        node = self.find(path)
        if node is None:
            target = self.ensure_map(path, now, changes)
            ts = target.modtime        # a new container takes the current time, not the request's
            self._merge_into(target, value, ts, now, self.spelled(path), changes)
        elif isinstance(node, _Leaf):
            parent = self.find(path[:-1])
            self._merge_into(parent, {node.name: value}, ts, now, self.spelled(path[:-1]), changes)
        else:
            self._merge_into(node, value, ts, now, self.spelled(path), changes)
        return changes, ts

    def replace(self, value: Mapping[str, Any], now: int) -> list:
        """A deployment's configuration: the same leaves keep their times; returns changed paths."""
        changes: list = []
        self._replace(self.root, value, now, [], changes)
        return changes

    def _replace(self, node: _Map, value: Mapping[str, Any], now: int, prefix: list, changes: list) -> None:
        wanted = {str(k).lower() for k in value}
        for low in [k for k in node.children if k not in wanted]:
            gone = node.children.pop(low)
            changes.append(prefix + [gone.name])
        for key, new in value.items():
            key = str(key)
            existing = node.children.get(key.lower())
            if isinstance(new, Mapping) and isinstance(existing, _Map):
                self._replace(existing, new, now, prefix + [existing.name], changes)
            elif not isinstance(new, Mapping) and isinstance(existing, _Leaf):
                if existing.value != new:
                    existing.value, existing.modtime = copy.deepcopy(new), now
                    changes.append(prefix + [existing.name])
            else:
                if existing is not None:
                    changes.append(prefix + [existing.name])
                fresh = _Map(key, now) if isinstance(new, Mapping) else _Leaf(key, copy.deepcopy(new), now)
                node.children[key.lower()] = fresh
                if isinstance(fresh, _Map):
                    added: list = []
                    self._merge_into(fresh, new, now, now, prefix + [key], added)
                    changes += added if existing is None else []
                elif existing is None:
                    changes.append(prefix + [key])


@dataclass(eq=False)
class Watch:
    """One ``SubscribeToConfigurationUpdate`` stream: what it watches and where events go."""

    component: str
    path: tuple
    listener: Listener
    active: bool = False      # events only once the subscription's response is on its way (the nucleus' guard)


def _under(changed: Sequence[str], watched: Sequence[str]) -> bool:
    return len(changed) >= len(watched) and all(a.lower() == b.lower() for a, b in zip(changed, watched))


def _unique(paths: Iterable[list]) -> list:
    seen, out = set(), []
    for p in paths:
        key = tuple(x.lower() for x in p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


class ConfigStore:
    """Every component's ``configuration`` with modification times, and the watchers of it."""

    def __init__(self, clock: Callable[[], float]) -> None:
        """``clock``: epoch seconds (``time.time``); the store keeps milliseconds."""
        self._clock = clock
        self._trees: dict[str, _Tree] = {}
        self._watches: list[Watch] = []
        self.events_sent = 0

    def _now(self) -> int:
        return millis(self._clock())

    # -- what the core sets (deployments) --------------------------------------------------------
    def names(self) -> list:
        return sorted(self._trees)

    def has(self, component: str) -> bool:
        return component in self._trees

    def set(self, component: str, configuration: Optional[Mapping[str, Any]]) -> list:
        """A deployment's configuration for ``component`` (None removes it); watchers hear of each change."""
        if configuration is None:
            self._trees.pop(component, None)
            return []
        if not isinstance(configuration, Mapping):
            raise TypeError(f"configuration of {component} must be a map, got {type(configuration).__name__}")
        tree = self._trees.get(component)
        if tree is None:
            self._trees[component] = _Tree(configuration, self._now())
            return []
        changes = _unique(tree.replace(configuration, self._now()))
        self._notify(component, changes)
        return changes

    def value(self, component: str) -> Optional[dict]:
        tree = self._trees.get(component)
        return _to_value(tree.root) if tree is not None else None

    # -- the IPC operations ----------------------------------------------------------------------
    def get(self, component: str, key_path: Optional[Sequence[str]]) -> dict:
        """``GetConfiguration``'s ``value``: the map at ``key_path``, or ``{leaf: value}`` for a leaf."""
        tree = self._trees.get(component)
        if tree is None:
            raise ResourceNotFoundError(KEY_NOT_FOUND)
        node = tree.find(_path(key_path))
        if node is None:
            raise ResourceNotFoundError(KEY_NOT_FOUND)
        if isinstance(node, _Leaf):
            return {node.name: copy.deepcopy(node.value)}
        return _to_value(node)

    def update(self, component: str, key_path: Optional[Sequence[str]], timestamp: Any, value_to_merge: Any
               ) -> list:
        """``UpdateConfiguration`` by ``component`` on its own configuration; returns the changed paths."""
        if timestamp is None:
            raise InvalidArgumentsError("Timestamp is required")
        if value_to_merge is None:
            raise InvalidArgumentsError("ValueToMerge is required")
        if not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool):
            raise InvalidArgumentsError(f"timestamp must be epoch seconds (a number), got {timestamp!r}")
        if not isinstance(value_to_merge, Mapping):
            raise InvalidArgumentsError("valueToMerge must be a JSON object")
        path = _path(key_path)
        if (not path and any(k in RESTRICTED for k in value_to_merge)) or (path and path[0] in RESTRICTED):
            raise InvalidArgumentsError(f"Config update is not allowed for following fields [{', '.join(RESTRICTED)}]")
        tree = self._trees.get(component)
        if tree is None:
            raise InvalidArgumentsError(f"Component config not found for component {component}")
        changes, used = tree.merge(path, value_to_merge, millis(timestamp), self._now())
        changes = _unique(changes)
        self._notify(component, changes)
        updated = tree.find(path)
        if updated is not None and used < updated.modtime:
            raise FailedUpdateConditionCheckError(
                "Proposed timestamp is older than the config's latest modified timestamp")
        return changes

    def watch(self, component: str, key_path: Optional[Sequence[str]], listener: Listener) -> Watch:
        """``SubscribeToConfigurationUpdate``: the node must exist. Call :meth:`activate` once answered."""
        tree = self._trees.get(component)
        path = _path(key_path)
        if tree is None or tree.find(path) is None:
            raise ResourceNotFoundError(KEY_NOT_FOUND)
        w = Watch(component, tuple(tree.spelled(path)), listener)
        self._watches.append(w)
        return w

    @staticmethod
    def activate(w: Watch) -> None:
        w.active = True

    def unwatch(self, w: Watch) -> None:
        if w in self._watches:
            self._watches.remove(w)

    @property
    def watches(self) -> int:
        return len(self._watches)

    def _notify(self, component: str, changes: list) -> None:
        if not changes:
            return
        for w in list(self._watches):
            if w.component != component or not w.active:
                continue
            for path in changes:
                if _under(path, w.path):
                    self.events_sent += 1
                    w.listener(component, list(path))

    def status(self) -> dict:
        return {"components": len(self._trees), "watches": len(self._watches), "events_sent": self.events_sent}


def _path(key_path: Optional[Sequence[str]]) -> list:
    if key_path is None:
        return []
    if not isinstance(key_path, (list, tuple)) or not all(isinstance(k, str) for k in key_path):
        raise InvalidArgumentsError("keyPath must be a list of strings")
    return list(key_path)


__all__ = ["ConfigStore", "KEY_NOT_FOUND", "Watch", "millis"]
