"""An index of MQTT topic filters, matched against a topic name without scanning every filter (pure).

Filters without wildcards sit in a dict (one lookup); filters with ``+`` or ``#`` sit in a trie of
topic levels, walked once per topic: the work grows with the topic's depth and the number of
filters that match, not with the number of filters held. Matching follows
:func:`localcore.router.topics.matches` exactly (``a/#`` matches ``a``; ``+`` matches one level,
an empty one included; a filter that begins with a wildcard does not match a ``$`` topic).

The index maps each filter to one value, as a dict does: adding a filter again replaces its value
(an MQTT re-subscription replaces the granted QoS). Callers validate filters and topics first.
"""
from __future__ import annotations

from typing import Dict, Generic, Iterator, List, Optional, Tuple, TypeVar

from localcore.router.topics import is_wildcard

V = TypeVar("V")
_MISSING = object()


class _Node:
    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.children: Dict[str, _Node] = {}
        self.value: object = _MISSING  # the value of the filter that ends at this node


class FilterIndex(Generic[V]):
    """Topic filter → value; :meth:`match` gives the values of every filter a topic matches."""

    def __init__(self) -> None:
        self._exact: Dict[str, V] = {}
        self._root = _Node()
        self._wildcards: Dict[str, V] = {}  # the trie's filters, for len(), get() and iteration

    # -- building ---------------------------------------------------------------------------
    def __setitem__(self, topic_filter: str, value: V) -> None:
        if not is_wildcard(topic_filter):
            self._exact[topic_filter] = value
            return
        node = self._root
        for level in topic_filter.split("/"):
            child = node.children.get(level)
            if child is None:
                child = node.children[level] = _Node()
            node = child
        node.value = value
        self._wildcards[topic_filter] = value

    def pop(self, topic_filter: str, default: Optional[V] = None) -> Optional[V]:
        """Remove ``topic_filter``; return its value, or ``default`` when it was not there."""
        if not is_wildcard(topic_filter):
            return self._exact.pop(topic_filter, default)
        if topic_filter not in self._wildcards:
            return default
        path: List[Tuple[_Node, str]] = []
        node = self._root
        for level in topic_filter.split("/"):
            path.append((node, level))
            node = node.children[level]
        node.value = _MISSING
        for parent, level in reversed(path):  # prune the branch that now leads nowhere
            child = parent.children[level]
            if child.children or child.value is not _MISSING:
                break
            del parent.children[level]
        return self._wildcards.pop(topic_filter)

    # -- reading ----------------------------------------------------------------------------
    def match(self, topic: str) -> List[V]:
        """The values of every filter that ``topic`` (a valid topic name) matches; the exact filter's
        first, then the wildcard filters' in no promised order."""
        found: List[V] = []
        value = self._exact.get(topic, _MISSING)
        if value is not _MISSING:
            found.append(value)  # type: ignore[arg-type]
        if self._wildcards:
            levels = topic.split("/")
            root = self._root
            if topic[:1] == "$":  # MQTT 3.1.1 §4.7.2: no wildcard at the first level matches it
                child = root.children.get(levels[0])
                if child is not None:
                    self._walk(child, levels, 1, found)
            else:
                self._walk(root, levels, 0, found)
        return found

    def _walk(self, node: _Node, levels: List[str], depth: int, found: list) -> None:
        children = node.children
        hash_node = children.get("#")
        if hash_node is not None and hash_node.value is not _MISSING:
            found.append(hash_node.value)  # '#' matches its parent level and everything below it
        if depth == len(levels):
            if node.value is not _MISSING:
                found.append(node.value)
            return
        child = children.get(levels[depth])
        if child is not None:
            self._walk(child, levels, depth + 1, found)
        plus = children.get("+")
        if plus is not None:
            self._walk(plus, levels, depth + 1, found)

    def get(self, topic_filter: str, default: Optional[V] = None) -> Optional[V]:
        """The value stored for ``topic_filter`` itself (no matching)."""
        if topic_filter in self._exact:
            return self._exact[topic_filter]
        return self._wildcards.get(topic_filter, default)

    def __contains__(self, topic_filter: object) -> bool:
        return topic_filter in self._exact or topic_filter in self._wildcards

    def __len__(self) -> int:
        return len(self._exact) + len(self._wildcards)

    def __bool__(self) -> bool:
        return bool(self._exact) or bool(self._wildcards)

    def items(self) -> Iterator[Tuple[str, V]]:
        yield from self._exact.items()
        yield from self._wildcards.items()

    def filters(self) -> List[str]:
        return [f for f, _ in self.items()]
