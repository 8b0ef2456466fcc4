"""AWS IoT device shadows (classic and named), pure (no I/O): requests in, reply messages out.

Semantics follow the AWS IoT Device Shadow service; a named shadow (``shadow_name``) is a document of its own
beside the thing's classic one, with the same rules, on ``$aws/things/<thing>/shadow/name/<name>/...`` topics:

* ``update``: deep merge of ``state.desired`` / ``state.reported`` into the document; ``null``
  deletes a key (``"desired": null`` the whole section); arrays are replaced whole. Each accepted
  update increments ``version`` by one. A request ``version`` different from the current one is
  refused with 409. Replies: ``update/accepted`` (the request's state and its metadata),
  ``update/documents`` (previous and current), ``update/delta`` when the update touched
  ``desired`` and desired still differs from reported.
* ``get``: ``get/accepted`` with state (+ ``delta``), metadata, version; 404 without a document.
* ``delete``: ``delete/accepted``; 404 without a document. The version number survives the
  delete, so a re-created shadow continues from it (as AWS does).
* Errors go to ``<action>/rejected`` as ``{code, message, timestamp, clientToken}``.
* ``clientToken`` is echoed in accepted, rejected, delta and documents messages.
* Size limit: request payload and resulting state document ≤ 8 KiB by default (413 otherwise); the
  ShadowManager's ``shadowDocumentSizeLimitBytes`` may raise it up to 30 KiB (``max_document_bytes``).
* ``desired`` / ``reported`` nest at most 6 levels of non-empty objects or arrays, the section itself being
  the first (400 otherwise), as aws-greengrass-shadow-manager ``util/JsonUtil.validatePayloadStateDepth``.
* Names: things 1-128 and shadows 1-64 characters of ``[a-zA-Z0-9:_-]``.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from localcore.interfaces import ShadowReply
from localcore.shadow.errors import BadShadowRequest

MAX_DOCUMENT_BYTES = 8 * 1024
MAX_DOCUMENT_BYTES_LIMIT = 30 * 1024     # the ShadowManager's ceiling for shadowDocumentSizeLimitBytes
MAX_STATE_DEPTH = 6
MAX_CLIENT_TOKEN_BYTES = 64
ACTIONS = ("get", "update", "delete")
_THING_RE = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
_SHADOW_NAME_RE = re.compile(r"^[a-zA-Z0-9:_-]{1,64}$")
SECTIONS = ("desired", "reported")


def topic(thing: str, action: str, suffix: str = "", shadow_name: str = "") -> str:
    """The topic of a request (no ``suffix``) or of a reply, for the classic shadow or a named one."""
    named = f"/name/{shadow_name}" if shadow_name else ""
    base = f"$aws/things/{thing}/shadow{named}/{action}"
    return f"{base}/{suffix}" if suffix else base


def parse_request_topic(topic_name: str) -> tuple[str, str] | None:
    """``$aws/things/T/shadow/update`` → ``('T', 'update')``; anything else → None."""
    parts = topic_name.split("/")
    if (len(parts) == 5 and parts[0] == "$aws" and parts[1] == "things" and parts[3] == "shadow"
            and parts[4] in ACTIONS and _THING_RE.match(parts[2])):
        return parts[2], parts[4]
    return None


def parse_shadow_topic(topic_name: str) -> tuple[str, str, str] | None:
    """A request topic of a classic or named shadow → ``(thing, shadow name or "", action)``; else None
    (reply topics included)."""
    parts = topic_name.split("/")
    if len(parts) < 5 or parts[0] != "$aws" or parts[1] != "things" or parts[3] != "shadow":
        return None
    if len(parts) == 5 and parts[4] in ACTIONS and _THING_RE.match(parts[2]):
        return parts[2], "", parts[4]
    if (len(parts) == 7 and parts[4] == "name" and parts[6] in ACTIONS and _THING_RE.match(parts[2])
            and _SHADOW_NAME_RE.match(parts[5])):
        return parts[2], parts[5], parts[6]
    return None


def valid_thing_name(thing: str) -> bool:
    return isinstance(thing, str) and bool(_THING_RE.match(thing))


def valid_shadow_name(name: str) -> bool:
    return isinstance(name, str) and bool(_SHADOW_NAME_RE.match(name))


def _depth_ok(node: Any, depth: int = 1) -> bool:
    """JsonUtil.calculateDepth: a non-empty object or array deeper than MAX_STATE_DEPTH is refused."""
    if not isinstance(node, (dict, list)) or not node:
        return True
    if depth > MAX_STATE_DEPTH:
        return False
    return all(_depth_ok(child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))


@dataclass
class Document:
    """One thing's shadow. ``exists`` is False after a delete (the version is kept)."""

    state: dict = field(default_factory=dict)      # {"desired": {...}, "reported": {...}}
    metadata: dict = field(default_factory=dict)   # same shape, leaves {"timestamp": t}
    version: int = 0
    timestamp: int = 0
    exists: bool = True

    def to_json(self) -> dict:
        return {"state": self.state, "metadata": self.metadata, "version": self.version,
                "timestamp": self.timestamp, "exists": self.exists}

    @classmethod
    def from_json(cls, data: dict) -> "Document":
        return cls(state=dict(data.get("state") or {}), metadata=dict(data.get("metadata") or {}),
                   version=int(data.get("version", 0)), timestamp=int(data.get("timestamp", 0)),
                   exists=bool(data.get("exists", True)))


class _Rejected(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def _merge(target: dict, patch: dict) -> None:
    """Deep merge ``patch`` into ``target``; None deletes; non-dict values replace."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            if not isinstance(current, dict):
                current = {}
                target[key] = current
            _merge(current, value)
            if not current:
                target.pop(key, None)
        else:
            target[key] = copy.deepcopy(value)


def _stamp(value: Any, now: int) -> Any:
    """Metadata for a state value: leaves become ``{"timestamp": now}``; None stays None (deletes)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _stamp(v, now) for k, v in value.items()}
    if isinstance(value, list):
        return [_stamp(v, now) if isinstance(v, (dict, list)) else {"timestamp": now} for v in value]
    return {"timestamp": now}


def _meta_merge(target: dict, patch: dict) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and "timestamp" not in value:
            current = target.get(key)
            if not isinstance(current, dict) or "timestamp" in current:
                current = {}
                target[key] = current
            _meta_merge(current, value)
            if not current:
                target.pop(key, None)
        else:
            target[key] = value


def delta(desired: Any, reported: Any) -> dict:
    """Fields of ``desired`` that differ from ``reported`` (objects compared key by key)."""
    if not isinstance(desired, dict):
        return {}
    out: dict = {}
    reported = reported if isinstance(reported, dict) else {}
    for key, want in desired.items():
        if key not in reported:
            out[key] = copy.deepcopy(want)
        elif isinstance(want, dict) and isinstance(reported[key], dict):
            sub = delta(want, reported[key])
            if sub:
                out[key] = sub
        elif want != reported[key]:
            out[key] = copy.deepcopy(want)
    return out


def _subset(metadata: Any, shape: Any) -> Any:
    """The part of ``metadata`` for the keys present in ``shape``."""
    if not isinstance(shape, dict) or not isinstance(metadata, dict) or "timestamp" in metadata:
        return metadata
    return {k: _subset(metadata[k], v) for k, v in shape.items() if k in metadata}


class ShadowState:
    """All shadows of the core, in memory. ``handle`` is the only entry point that changes them.

    ``documents``: the classic shadows by thing; ``named``: the named ones by (thing, shadow name).
    """

    def __init__(self, documents: dict[str, Document] | None = None,
                 named: dict[tuple[str, str], Document] | None = None,
                 max_document_bytes: int = MAX_DOCUMENT_BYTES) -> None:
        self.documents: dict[str, Document] = documents if documents is not None else {}
        self.named: dict[tuple[str, str], Document] = named if named is not None else {}
        self.max_document_bytes = max_document_bytes

    def document(self, thing: str, shadow_name: str = "") -> Document | None:
        """The stored document (also a deleted one, which keeps its version), or None."""
        return self.named.get((thing, shadow_name)) if shadow_name else self.documents.get(thing)

    def named_shadows(self, thing: str) -> list[str]:
        """The names of ``thing``'s named shadows that exist, sorted."""
        return sorted(n for (t, n), d in self.named.items() if t == thing and d.exists)

    def _put(self, thing: str, shadow_name: str, doc: Document) -> None:
        if shadow_name:
            self.named[(thing, shadow_name)] = doc
        else:
            self.documents[thing] = doc

    def handle(self, thing: str, action: str, payload: bytes, now: int,
               shadow_name: str = "") -> tuple[list[ShadowReply], bool]:
        """Apply one request at time ``now`` (epoch seconds) to the classic shadow of ``thing`` or, with
        ``shadow_name``, to that named shadow.

        Returns the reply messages and whether the stored document changed.
        """
        if action not in ACTIONS:
            raise BadShadowRequest(f"shadow action {action!r} is not one of {', '.join(ACTIONS)}")
        if not valid_thing_name(thing):
            raise BadShadowRequest(
                f"thing name {thing!r} is invalid: 1-128 characters of a-z A-Z 0-9 : _ -")
        if shadow_name and not valid_shadow_name(shadow_name):
            raise BadShadowRequest(
                f"shadow name {shadow_name!r} is invalid: 1-64 characters of a-z A-Z 0-9 : _ -")
        key = (thing, shadow_name)
        token = None
        try:
            request = self._parse(payload)
            token = request.get("clientToken")
            if token is not None and (not isinstance(token, str)
                                      or len(token.encode()) > MAX_CLIENT_TOKEN_BYTES):
                token = None
                raise _Rejected(400, "clientToken must be a string of at most 64 bytes")
            if len(payload) > self.max_document_bytes:
                raise _Rejected(413, "The payload exceeds the maximum size allowed")
            if action == "get":
                return [self._get(key, token, now)], False
            if action == "delete":
                return [self._delete(key, token, now)], True
            return self._update(key, request, token, now), True
        except _Rejected as rej:
            body: dict = {"code": rej.code, "message": rej.message, "timestamp": now}
            if token is not None:
                body["clientToken"] = token
            return [ShadowReply(topic(thing, action, "rejected", shadow_name), _dumps(body))], False

    @staticmethod
    def _parse(payload: bytes) -> dict:
        if not payload.strip():
            return {}
        try:
            request = json.loads(payload)
        except (UnicodeDecodeError, ValueError):
            raise _Rejected(400, "Invalid JSON") from None
        if not isinstance(request, dict):
            raise _Rejected(400, "Invalid JSON: the request must be a JSON object")
        return request

    def _existing(self, key: tuple[str, str]) -> Document:
        doc = self.document(*key)
        if doc is None or not doc.exists:
            raise _Rejected(404, f"No shadow exists with name: '{key[1] or key[0]}'")
        return doc

    def _get(self, key: tuple[str, str], token: str | None, now: int) -> ShadowReply:
        doc = self._existing(key)
        state = copy.deepcopy(doc.state)
        meta = copy.deepcopy(doc.metadata)
        diff = delta(doc.state.get("desired"), doc.state.get("reported"))
        if diff:
            state["delta"] = diff
        body: dict = {"state": state, "metadata": meta, "version": doc.version, "timestamp": now}
        if token is not None:
            body["clientToken"] = token
        return ShadowReply(topic(key[0], "get", "accepted", key[1]), _dumps(body))

    def _delete(self, key: tuple[str, str], token: str | None, now: int) -> ShadowReply:
        doc = self._existing(key)
        self._put(*key, Document(version=doc.version, timestamp=now, exists=False))
        body: dict = {"version": doc.version, "timestamp": now}
        if token is not None:
            body["clientToken"] = token
        return ShadowReply(topic(key[0], "delete", "accepted", key[1]), _dumps(body))

    def _update(self, key: tuple[str, str], request: dict, token: str | None, now: int) -> list[ShadowReply]:
        thing, shadow_name = key
        if "state" not in request:
            raise _Rejected(400, "Missing required node: state")
        state = request["state"]
        if not isinstance(state, dict):
            raise _Rejected(400, "Invalid JSON: state must be an object")
        for section, value in state.items():
            if section not in SECTIONS:
                raise _Rejected(400, f"Invalid JSON: state contains an invalid node: '{section}'")
            if value is not None and not isinstance(value, dict):
                raise _Rejected(400, f"Invalid JSON: state.{section} must be an object or null")
            if not _depth_ok(value):
                raise _Rejected(400, f"JSON contains too many levels of nesting; maximum is {MAX_STATE_DEPTH}")
        old = self.document(thing, shadow_name)
        live = old is not None and old.exists
        current_version = old.version if old is not None else 0
        if "version" in request:
            wanted = request["version"]
            if not isinstance(wanted, int) or isinstance(wanted, bool):
                raise _Rejected(400, "Invalid JSON: version must be an integer")
            if wanted != current_version:
                raise _Rejected(409, "Version conflict")

        new_state = copy.deepcopy(old.state) if live else {}
        new_meta = copy.deepcopy(old.metadata) if live else {}
        req_meta: dict = {}
        for section in SECTIONS:
            if section not in state:
                continue
            patch = state[section]
            if patch is None:
                new_state.pop(section, None)
                new_meta.pop(section, None)
                req_meta[section] = None
                continue
            target = new_state.setdefault(section, {})
            _merge(target, patch)
            if not target:
                new_state.pop(section, None)
            stamped = _stamp(patch, now)
            req_meta[section] = stamped
            meta_target = new_meta.setdefault(section, {})
            _meta_merge(meta_target, stamped)
            if not meta_target:
                new_meta.pop(section, None)
        if len(_dumps(new_state)) > self.max_document_bytes:
            raise _Rejected(413, "The payload exceeds the maximum size allowed")

        version = current_version + 1
        doc = Document(state=new_state, metadata=new_meta, version=version, timestamp=now)
        self._put(thing, shadow_name, doc)

        accepted: dict = {"state": state, "metadata": req_meta, "version": version, "timestamp": now}
        if token is not None:
            accepted["clientToken"] = token
        replies = [ShadowReply(topic(thing, "update", "accepted", shadow_name), _dumps(accepted))]

        documents: dict = {}
        if live:
            documents["previous"] = {"state": old.state, "metadata": old.metadata, "version": old.version}
        documents["current"] = {"state": new_state, "metadata": new_meta, "version": version}
        documents["timestamp"] = now
        if token is not None:
            documents["clientToken"] = token
        replies.append(ShadowReply(topic(thing, "update", "documents", shadow_name), _dumps(documents)))

        if "desired" in state:
            diff = delta(new_state.get("desired"), new_state.get("reported"))
            if diff:
                body: dict = {"version": version, "timestamp": now, "state": diff,
                              "metadata": _subset(new_meta.get("desired", {}), diff)}
                if token is not None:
                    body["clientToken"] = token
                replies.append(ShadowReply(topic(thing, "update", "delta", shadow_name), _dumps(body)))
        return replies
