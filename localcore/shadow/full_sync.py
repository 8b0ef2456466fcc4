"""What the ShadowManager's sync does with one shadow, decided from the local document, the cloud document and what
was last synced (pure). Follows aws-greengrass/aws-greengrass-shadow-manager ``sync/model/FullShadowSyncRequest``
(both directions), ``OverwriteCloudShadowRequest`` (``deviceToCloud``), ``OverwriteLocalShadowRequest``
(``cloudToDevice``) and ``util/SyncNodeMerger``:

* neither document exists → forget the last synced document;
* only one exists → on a first sync, or when it changed after the last sync, it is copied to the other side; else
  the other side deleted it since, and the delete is carried over;
* both exist and neither version moved since the last sync → nothing;
* else a three-way merge against the last synced document, field by field: a field changed on one side only takes
  that side's value; changed on both, ``reported`` keeps the local value and ``desired`` the cloud's; the merged
  state goes to each side whose peer changed.

Documents are dicts as the stores give them (``state``, ``metadata``, ``version``) or None when absent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

LOCAL, CLOUD = "local", "cloud"
SECTIONS = ("desired", "reported")
_ABSENT = object()


@dataclass
class SyncInfo:
    """``SyncInformation``: the versions and state of the last sync; ``last_sync_time`` 0 means never."""

    local_version: int = 0
    cloud_version: int = 0
    last_synced: Optional[Dict[str, Any]] = None     # {"desired": ..., "reported": ...}
    last_sync_time: int = 0
    cloud_update_time: int = 0


@dataclass
class Decision:
    """``kind``: nothing | forget | push (local → cloud) | pull (cloud → local) | delete_cloud | delete_local |
    merge (``state`` to the local side if ``to_local``, to the cloud if ``to_cloud``)."""

    kind: str
    state: Dict[str, Any] = field(default_factory=dict)
    to_local: bool = False
    to_cloud: bool = False


def _changed(latest: Any, base: Any) -> bool:
    """``SyncNodeMerger.compare``: numbers compare by value; an absent value differs from a present one."""
    if latest is None:
        return base is not None
    if _number(latest) and _number(base):
        return latest != base
    return latest != base


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def merge_node(local: Any, cloud: Any, base: Any, owner: str) -> Any:
    """The merged value (None: absent, which deletes the field). ``owner`` wins a conflict."""
    if local is None and cloud is None:
        return None
    if isinstance(local, dict) and isinstance(cloud, dict) and isinstance(base, dict):
        out: Dict[str, Any] = {}
        for key in list(local) + [k for k in cloud if k not in local]:
            out[key] = merge_node(local.get(key), cloud.get(key), base.get(key), owner)
        return out or None
    local_changed, cloud_changed = _changed(local, base), _changed(cloud, base)
    if cloud_changed and not local_changed:
        return cloud
    if local_changed and not cloud_changed:
        return local
    return local if owner == LOCAL else cloud


def latest_timestamp(metadata: Any) -> int:
    """The newest ``timestamp`` leaf of a metadata tree (0 if none)."""
    if isinstance(metadata, dict):
        own = metadata.get("timestamp")
        best = own if _number(own) else 0
        for k, v in metadata.items():
            if k != "timestamp":
                best = max(best, latest_timestamp(v))
        return int(best)
    if isinstance(metadata, list):
        return max((latest_timestamp(v) for v in metadata), default=0)
    return 0


def sections(document: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """``{"desired": …, "reported": …}`` of a document (absent sections left out)."""
    state = (document or {}).get("state") or {}
    return {s: state[s] for s in SECTIONS if state.get(s) is not None}


def _first_or_after(info: SyncInfo, update_time: int) -> bool:
    return info.last_sync_time == 0 or update_time > info.last_sync_time


def decide_full(local: Optional[dict], cloud: Optional[dict], info: SyncInfo, now: int,
                changed: Optional[str] = None) -> Decision:
    """``changed``: LOCAL or CLOUD when only that side's change asked for this sync — then a document missing on
    the other side is the change carried over (``CloudUpdateSyncRequest`` / ``LocalDeleteSyncRequest`` …), not
    decided by the update times."""
    if local is None and cloud is None:
        return Decision("forget")
    if changed == LOCAL and (local is None) != (cloud is None):
        return Decision("push") if local is not None else Decision("delete_cloud")
    if changed == CLOUD and (local is None) != (cloud is None):
        return Decision("pull") if cloud is not None else Decision("delete_local")
    if cloud is None:
        when = latest_timestamp(local.get("metadata")) if local.get("metadata") else now
        return Decision("push") if _first_or_after(info, when) else Decision("delete_local")
    if local is None:
        when = cloud_update_time(cloud)
        return Decision("pull") if _first_or_after(info, when) else Decision("delete_cloud")
    local_moved = local.get("version") != info.local_version
    cloud_moved = cloud.get("version") != info.cloud_version
    if not local_moved and not cloud_moved:
        return Decision("nothing")
    base = info.last_synced if info.last_sync_time else None
    mine, theirs, old = sections(local), sections(cloud), base or {}
    merged = {"reported": merge_node(mine.get("reported"), theirs.get("reported"), old.get("reported") if base else None,
                                     LOCAL),
              "desired": merge_node(mine.get("desired"), theirs.get("desired"), old.get("desired") if base else None,
                                    CLOUD)}
    return Decision("merge", merged, to_local=cloud_moved, to_cloud=local_moved)


def decide_overwrite_cloud(local: Optional[dict], cloud: Optional[dict], info: SyncInfo) -> Decision:
    """``deviceToCloud``: the cloud becomes the local document."""
    if local is None:
        return Decision("delete_cloud") if cloud is not None else Decision("forget")
    if cloud is not None and local.get("version") == info.local_version and cloud.get("version") == info.cloud_version:
        return Decision("nothing")
    return Decision("push")


def decide_overwrite_local(local: Optional[dict], cloud: Optional[dict], info: SyncInfo) -> Decision:
    """``cloudToDevice``: the local document becomes the cloud's."""
    if cloud is None:
        return Decision("delete_local") if local is not None else Decision("forget")
    if local is not None and local.get("version") == info.local_version and cloud.get("version") == info.cloud_version:
        return Decision("nothing")
    return Decision("pull")


def cloud_update_time(cloud: dict) -> int:
    return latest_timestamp(cloud.get("metadata")) or int(cloud.get("timestamp") or 0)


def patch_to(current: Dict[str, Any], wanted: Dict[str, Any]) -> Dict[str, Any]:
    """The update ``state`` that turns sections ``current`` into ``wanted`` (a removed key or section becomes
    ``null`` key by key, which both the local store and the cloud apply)."""
    out: Dict[str, Any] = {}
    for s in SECTIONS:
        have, want = current.get(s), wanted.get(s)
        if want is None:
            if isinstance(have, dict) and have:
                out[s] = {k: None for k in have}
            continue
        patched = _removed_as_null(have, want)
        if patched != have:
            out[s] = patched
    return out


def _removed_as_null(previous: Any, current: Any) -> Any:
    if not isinstance(previous, dict) or not isinstance(current, dict):
        return current
    out = dict(current)
    for key, old in previous.items():
        out[key] = None if key not in current else _removed_as_null(old, current[key])
    return out


def without_nulls(value: Any) -> Any:
    """A merged node as it is stored (fields set to None removed)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    return value
