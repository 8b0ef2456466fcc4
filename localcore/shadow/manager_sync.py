"""The ShadowManager's cloud sync on a V2 core: the shadows its ``synchronize`` names, in its ``direction``, with its
``strategy`` and its outbound rate limit, against the (local) cloud's IoT data plane.

As aws-greengrass/aws-greengrass-shadow-manager (``sync/SyncHandler``, ``sync/strategy/*``, ``ShadowManager``):

* when the synced shadows or the direction change (a deployment) every synced shadow gets a full sync (both ways, or
  an overwrite of the cloud / of the local shadow for ``deviceToCloud`` / ``cloudToDevice``); a shadow that no longer
  syncs loses its sync information;
* a local change of a synced shadow is queued unless the direction is ``cloudToDevice``; a cloud change unless it
  is ``deviceToCloud`` — the component hears those on its MQTT subscription to the cloud's shadow topics; the core
  has no MQTT session with the local cloud, so a poller reads each synced cloud shadow every ``poll_interval_s``
  (these reads stand in for the subscription and take no outbound permit);
* ``realTime`` handles the queue as it fills; ``periodic`` every ``delay`` seconds (from the start), draining it;
  requests for the same shadow merge into one (the component's ``RequestMerger``), each one decided by
  :mod:`localcore.shadow.full_sync` from the two documents and the last sync;
* every cloud call (get, update, delete) first takes a permit of the outbound limiter
  (``maxOutboundSyncUpdatesPerSecond``) and waits for it;
* a version conflict on either side is retried at once as a full sync; a cloud that cannot be reached is retried
  with back-off (1 s doubling to 30 s), the change kept.

Sync information (versions and the last synced state of each shadow, the component's ``sync`` table) is kept in
``state_file`` when one is given, so a restarted core merges against what it last synced.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Optional, Sequence, Tuple

from localcore.interfaces import ShadowReply
from localcore.shadow import full_sync
from localcore.shadow.full_sync import Decision, SyncInfo, patch_to, sections, without_nulls
from localcore.shadow.manager_config import (BETWEEN_DEVICE_AND_CLOUD, CLOUD_TO_DEVICE, DEVICE_TO_CLOUD, PERIODIC,
                                             REAL_TIME, Strategy)
from localcore.shadow.ratelimit import OutboundLimiter

log = logging.getLogger(__name__)

Key = Tuple[str, str]
FULL = "full"


class CloudConflict(Exception):
    """The cloud refused an update for its version."""


class DataPlane:
    """The cloud's shadows through a boto3 ``iot-data`` client (``client()`` makes or returns one)."""

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client

    @staticmethod
    def _name(shadow_name: str) -> Dict[str, str]:
        return {"shadowName": shadow_name} if shadow_name else {}

    def get(self, thing: str, shadow_name: str) -> Optional[dict]:
        c = self._client()
        try:
            r = c.get_thing_shadow(thingName=thing, **self._name(shadow_name))
        except c.exceptions.ResourceNotFoundException:
            return None
        return json.loads(r["payload"].read())

    def update(self, thing: str, shadow_name: str, payload: bytes) -> dict:
        c = self._client()
        try:
            r = c.update_thing_shadow(thingName=thing, payload=payload, **self._name(shadow_name))
        except c.exceptions.ConflictException as e:
            raise CloudConflict(str(e)) from None
        return json.loads(r["payload"].read())

    def delete(self, thing: str, shadow_name: str) -> None:
        c = self._client()
        try:
            c.delete_thing_shadow(thingName=thing, **self._name(shadow_name))
        except c.exceptions.ResourceNotFoundException:
            pass


class ShadowManagerSync:
    """:param store: the core's ``ShadowService``; :param cloud: a :class:`DataPlane` (or the same methods)."""

    def __init__(self, store: Any, cloud: Any, *, poll_interval_s: float = 1.0,
                 retry_s: Tuple[float, float] = (1.0, 30.0), clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, state_file: Optional[Path] = None) -> None:
        self.store = store
        self.cloud = cloud
        self.poll_interval_s = poll_interval_s
        self._retry = retry_s
        self._clock, self._mono = clock, monotonic
        self.synced: FrozenSet[Key] = frozenset()
        self.direction = BETWEEN_DEVICE_AND_CLOUD
        self.strategy = Strategy()
        self._outbound = OutboundLimiter(100, monotonic())
        self._dirty: "OrderedDict[Key, set]" = OrderedDict()     # shadow → why: local, cloud, full
        self._state_file = Path(state_file) if state_file is not None else None
        self._info: Dict[Key, SyncInfo] = self._load()
        self._cloud_seen: Dict[Key, Optional[int]] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._busy = False
        self._generation = 0                 # bumped by configure(): a new strategy starts over
        self._worker: Optional[threading.Thread] = None
        self._poller: Optional[threading.Thread] = None
        self._worker_ident: Optional[int] = None
        self.counts: Counter = Counter()
        self.last_error: Optional[str] = None

    # -- configuration ---------------------------------------------------------------------------
    def configure(self, synced: FrozenSet[Key], direction: str, strategy: Strategy, outbound_rate: int) -> None:
        with self._cond:
            resync = synced != self.synced or direction != self.direction
            restart = resync or strategy != self.strategy
            dropped = [k for k in self._info if k not in synced]
            for key in dropped:
                self._info.pop(key, None)
            for key in self.synced - synced:
                self._cloud_seen.pop(key, None)
                self._dirty.pop(key, None)
            self.synced, self.direction, self.strategy = frozenset(synced), direction, strategy
            self._outbound.set_rate(outbound_rate, self._mono())
            if resync:
                for key in sorted(self.synced):
                    self._queue(key, FULL)
            if restart:
                self._generation += 1
            self._cond.notify_all()
        if dropped:
            self._save()
        log.info("ShadowManager sync: %d shadow(s), %s, %s%s, %d outbound/s", len(synced), direction, strategy.type,
                 f" every {strategy.delay_s} s" if strategy.type == PERIODIC else "", outbound_rate)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._worker is not None:
            return
        self._stop.clear()
        self._worker = threading.Thread(target=self._run, name="shadow-manager-sync", daemon=True)
        self._poller = threading.Thread(target=self._poll, name="shadow-manager-cloud-poll", daemon=True)
        self._worker.start()
        self._poller.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for t in (self._worker, self._poller):
            if t is not None:
                t.join(timeout)
        self._worker = self._poller = None

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is queued or being synced (tests, orderly shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: (not self._dirty and not self._busy) or self._stop.is_set(), timeout)

    # -- what changed ------------------------------------------------------------------------------
    def local_changed(self, thing: str, shadow_name: str, replies: Sequence[ShadowReply]) -> None:
        """The store's listener: a local update or delete of a synced shadow is queued (not the sync's own)."""
        key = (thing, shadow_name)
        if threading.get_ident() == self._worker_ident:
            return
        if not any(r.topic.endswith(("/update/accepted", "/delete/accepted")) for r in replies):
            return
        with self._cond:
            if key not in self.synced or self.direction == CLOUD_TO_DEVICE:
                return
            self._queue(key, full_sync.LOCAL)

    def _queue(self, key: Key, why: str) -> None:
        if key in self._dirty:
            self.counts["merged"] += 1
        self._dirty.setdefault(key, set()).add(why)
        self._cond.notify_all()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_interval_s):
            with self._cond:
                if self.direction == DEVICE_TO_CLOUD:
                    continue
                keys = sorted(self.synced)
            for key in keys:
                try:
                    doc = self.cloud.get(*key)
                except Exception as e:  # the cloud is unreachable: next round
                    self.last_error = f"{type(e).__name__}: {e}"
                    continue
                version = doc.get("version") if doc else None
                with self._cond:
                    if key in self.synced and key in self._cloud_seen and self._cloud_seen[key] != version:
                        self.counts["cloud_changes"] += 1
                        self._queue(key, full_sync.CLOUD)

    # -- the worker --------------------------------------------------------------------------------
    def _run(self) -> None:
        self._worker_ident = threading.get_ident()
        next_tick = self._mono()
        delay = self._retry[0]
        generation = self._generation
        while not self._stop.is_set():
            with self._cond:
                if self._generation != generation:   # a new strategy: periodic runs start now, as a new schedule
                    generation, next_tick = self._generation, self._mono()
                if self.strategy.type == REAL_TIME:
                    self._cond.wait_for(lambda: self._dirty or self._stop.is_set() or self._generation != generation)
                    if self._generation != generation:
                        continue
                else:
                    wait = next_tick - self._mono()
                    if wait > 0:
                        self._cond.wait(wait)
                        continue
                    next_tick += self.strategy.delay_s
                if self._stop.is_set():
                    return
            while not self._stop.is_set():   # realTime: until the queue is empty; periodic: this run's drain
                with self._cond:
                    if not self._dirty:
                        self._cond.notify_all()
                        break
                    key, why = self._dirty.popitem(last=False)
                    if key not in self.synced:
                        continue
                    self._busy = True
                try:
                    retry = self._sync(key, why)
                    delay = self._retry[0]
                except Exception as e:  # the cloud is unreachable or refused: keep the change, back off
                    self.counts["failed"] += 1
                    self.last_error = f"{type(e).__name__}: {e}"
                    log.warning("ShadowManager sync of %s/%s failed (%s); retrying in %.0f s", key[0], key[1] or
                                "classic", self.last_error, delay)
                    retry = set()
                    with self._cond:   # still pending while it waits
                        self._busy = False
                        if key in self.synced:
                            self._dirty.setdefault(key, set()).update(why)
                            self._dirty.move_to_end(key, last=False)
                        self._cond.notify_all()
                    self._stop.wait(delay)
                    delay = min(delay * 2, self._retry[1])
                with self._cond:
                    self._busy = False
                    if retry and key in self.synced:
                        self._dirty.setdefault(key, set()).update(retry)
                    self._cond.notify_all()

    def _cloud_call(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._cond:
            wait = self._outbound.reserve(self._mono())
        if wait > 0:
            self.counts["outbound_waits"] += 1
            if self._stop.wait(wait):
                raise RuntimeError("the ShadowManager sync is stopping")
        return fn(*args)

    def _sync(self, key: Key, why: set) -> set:
        """One shadow's sync; the reasons to run it again (a version conflict: a full sync), else an empty set."""
        thing, name = key
        with self._cond:
            info = self._info.setdefault(key, SyncInfo())
        local = self.store.document(thing, name)
        cloud = self._cloud_call(self.cloud.get, thing, name)
        now = int(self._clock())
        if self.direction == DEVICE_TO_CLOUD:
            decision = full_sync.decide_overwrite_cloud(local, cloud, info)
        elif self.direction == CLOUD_TO_DEVICE:
            decision = full_sync.decide_overwrite_local(local, cloud, info)
        else:
            only = next(iter(why)) if len(why) == 1 else None
            decision = full_sync.decide_full(local, cloud, info, now, only if only != FULL else None)
        self.counts[decision.kind] += 1
        try:
            self._apply(key, decision, local, cloud, info, now)
        except CloudConflict:
            self.counts["conflicts"] += 1
            return {FULL}
        finally:
            if decision.kind != "nothing":
                self._save()
        return set()

    def _apply(self, key: Key, d: Decision, local: Optional[dict], cloud: Optional[dict], info: SyncInfo,
               now: int) -> None:
        thing, name = key
        local_version = local.get("version") if local else info.local_version
        cloud_version = cloud.get("version") if cloud else None
        if d.kind == "nothing":
            self._cloud_seen[key] = cloud_version
            return
        if d.kind == "forget":   # the last sync time stays, as the component's
            info.last_synced = None
            self._cloud_seen[key] = None
            return
        if d.kind == "delete_cloud":
            self._cloud_call(self.cloud.delete, thing, name)
            info.last_synced, info.local_version, info.last_sync_time = None, local_version or 0, now
            self._cloud_seen[key] = None
            return
        if d.kind == "delete_local":
            self._local(thing, name, "delete", b"")
            info.last_synced, info.last_sync_time = None, now
            info.cloud_version = cloud_version or info.cloud_version
            self._cloud_seen[key] = cloud_version
            return
        if d.kind == "push":
            wanted = sections(local)
        elif d.kind == "pull":
            wanted = sections(cloud)
        else:
            wanted = without_nulls({s: v for s, v in d.state.items() if v is not None})
        if d.kind == "pull" or d.to_local:
            local_version = self._to_local(thing, name, local, wanted)
        if d.kind == "push" or d.to_cloud:
            cloud_version = self._to_cloud(thing, name, cloud, wanted)
        info.local_version, info.cloud_version = local_version or 0, cloud_version or 0
        info.last_synced, info.last_sync_time = wanted, now
        info.cloud_update_time = now
        self._cloud_seen[key] = cloud_version

    def _to_local(self, thing: str, name: str, local: Optional[dict], wanted: dict) -> Optional[int]:
        patch = patch_to(sections(local), wanted)
        if local is not None and not patch:
            return local.get("version")
        body: Dict[str, Any] = {"state": patch}
        if local is not None:
            body["version"] = local["version"]
        return self._local(thing, name, "update", json.dumps(body, separators=(",", ":")).encode())

    def _to_cloud(self, thing: str, name: str, cloud: Optional[dict], wanted: dict) -> Optional[int]:
        patch = patch_to(sections(cloud), wanted)
        if cloud is not None and not patch:
            return cloud.get("version")
        body: Dict[str, Any] = {"state": patch}
        if cloud is not None:
            body["version"] = cloud["version"]
        answer = self._cloud_call(self.cloud.update, thing, name, json.dumps(body, separators=(",", ":")).encode())
        self.counts["cloud_updates"] += 1
        return answer.get("version")

    def _local(self, thing: str, name: str, action: str, payload: bytes) -> Optional[int]:
        """A request to the local store as the ShadowManager makes it (its replies are published as any)."""
        replies = self.store.handle_and_publish(thing, action, payload, name)
        for reply in replies:
            suffix = reply.topic.rsplit("/", 1)[-1]
            if suffix == "accepted":
                self.counts[f"local_{action}s"] += 1
                return json.loads(reply.payload).get("version")
            if suffix == "rejected":
                body = json.loads(reply.payload)
                if body.get("code") == 409:
                    raise CloudConflict("local version conflict")
                log.warning("ShadowManager sync: the local %s of %s/%s was refused (%s); skipped", action, thing,
                            name or "classic", body.get("message"))
                self.counts["skipped"] += 1
                return None
        return None

    # -- sync information on disk ---------------------------------------------------------------------
    def _load(self) -> Dict[Key, SyncInfo]:
        if self._state_file is None or not self._state_file.is_file():
            return {}
        try:
            entries = json.loads(self._state_file.read_text("utf-8"))
            return {(e["thing"], e["shadow"]): SyncInfo(**e["info"]) for e in entries}
        except (OSError, ValueError, TypeError, KeyError) as e:
            log.warning("ShadowManager sync: %s is unreadable (%s); every shadow syncs as for the first time",
                        self._state_file, e)
            return {}

    def _save(self) -> None:
        if self._state_file is None:
            return
        with self._cond:
            entries = [{"thing": t, "shadow": n, "info": dataclasses.asdict(i)} for (t, n), i in sorted(self._info.items())]
        try:
            self._state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(entries, separators=(",", ":")), "utf-8")
            os.replace(tmp, self._state_file)
        except OSError as e:   # the sync goes on; a restart then merges as a first sync
            log.warning("ShadowManager sync: cannot write %s: %s", self._state_file, e)

    def status(self) -> dict:
        with self._cond:
            return {"shadows": [f"{t}/{n}" if n else t for t, n in sorted(self.synced)], "direction": self.direction,
                    "strategy": self.strategy.type, "delay_s": self.strategy.delay_s,
                    "outbound_per_second": self._outbound.rate, "pending": len(self._dirty), **dict(self.counts),
                    "last_error": self.last_error}
