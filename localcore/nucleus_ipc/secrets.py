"""IPC ``GetSecretValue``: ``aws.greengrass.SecretManager``'s secrets, from the (local) cloud's Secrets Manager.

Follows aws-greengrass/aws-greengrass-secret-manager ``SecretManager``, ``SecretManagerIPCAgent`` and
``SecretManagerService``:

* the component's configuration ``cloudSecrets`` lists ``{arn, labels}``; ``AWSCURRENT`` is always one of the
  labels; each configured (ARN, label) is fetched when the configuration arrives (the component's start and each
  configuration change) and kept in memory by ARN, by ARN + version id and by ARN + each of its stages;
* ``secretId`` is an ARN or a name; a name maps to the ARN of a fetched secret of that name, else to a configured
  ARN ``…:secret:<name>-XXXXXX``; neither: ``ResourceNotFoundError("Secret not configured <id>")``;
* authorization (service ``aws.greengrass.SecretManager``) is on the ARN, after the name was resolved;
* ``versionId`` and ``versionStage`` together: ``ServiceError("Both versionId and Stage are set in the request")``;
  the default stage is ``AWSCURRENT``; ``refresh: true`` (without ``versionId``) fetches the stage again first;
  a miss in memory (without ``versionId``) fetches from the cloud once — by stage, a stage the configuration does
  not list is never fetched — then ``Secret not found <id>``, ``Version Id <v> not found for secret <id>`` or
  ``Version stage <s> not found for secret <id>`` (``ResourceNotFoundError``, resource type ``secret``);
* the answer: ``secretId`` (the ARN), ``versionId``, ``versionStage`` (the version's stages) and ``secretValue``
  with ``secretString`` or ``secretBinary``.

Secrets are held in memory only (the component also writes them encrypted to disk; the local core does not).
"""
from __future__ import annotations

import asyncio
import base64
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from .authorization import AccessControl
from .errors import ResourceNotFoundError, ServiceError
from .service import Call, IpcService

log = logging.getLogger(__name__)

COMPONENT = "aws.greengrass.SecretManager"
LATEST = "AWSCURRENT"
ARN_RE = re.compile(r"arn:([^:]+):secretsmanager:[a-z0-9\-]+:[0-9]{12}:secret:([a-zA-Z0-9\\]+/)*"
                    r"[a-zA-Z0-9/_+=,.@\-]+(-[a-zA-Z0-9]+)?")


@dataclass(frozen=True)
class ConfiguredSecret:
    arn: str
    labels: tuple


def parse_cloud_secrets(configuration: Optional[Mapping[str, Any]]) -> tuple[list, list]:
    """``cloudSecrets`` of the component's configuration → (secrets, problems). Pure."""
    raw = (configuration or {}).get("cloudSecrets")
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [f"{COMPONENT}: configuration.cloudSecrets must be a list of {{arn, labels}}; no secret loaded"]
    out, problems = [], []
    for i, entry in enumerate(raw):
        arn = entry.get("arn") if isinstance(entry, Mapping) else None
        if not isinstance(arn, str) or not ARN_RE.fullmatch(arn):
            problems.append(f"{COMPONENT}: configuration.cloudSecrets[{i}].arn {arn!r} is not a secret ARN; skipped")
            continue
        labels = entry.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            problems.append(f"{COMPONENT}: configuration.cloudSecrets[{i}].labels must be a list of strings; skipped")
            continue
        out.append(ConfiguredSecret(arn, tuple(dict.fromkeys([*labels, LATEST]))))
    return out, problems


class _NotFound(Exception):
    pass


class SecretOperations:
    """The secret cache and ``GetSecretValue``. ``client_factory()`` makes a boto3 ``secretsmanager`` client."""

    def __init__(self, access: AccessControl, client_factory: Callable[[], Any]) -> None:
        self.access = access
        self._client_factory = client_factory
        self._client: Any = None
        self._secrets: list[ConfiguredSecret] = []
        self._cache: dict[str, dict] = {}
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()
        self.problems: list[str] = []
        self.counts = {"served": 0, "fetched": 0, "fetch_errors": 0}
        self.last_error = ""

    def wire(self, service: IpcService) -> None:
        # authorization needs the ARN a name resolves to: the handler checks it itself
        service.wire("GetSecretValue", self.get_secret_value)

    # -- configuration and the cloud -------------------------------------------------------------
    async def configure(self, configuration: Optional[Mapping[str, Any]]) -> None:
        """The component's (new) configuration: fetch every configured secret and label (off the loop)."""
        secrets, problems = parse_cloud_secrets(configuration)
        for p in problems:
            log.warning("%s", p)
        with self._lock:
            self._secrets, self.problems = secrets, problems
        await asyncio.to_thread(self.sync)

    def sync(self) -> None:
        """Blocking: download each configured (ARN, label)."""
        with self._lock:
            wanted = [(s.arn, label) for s in self._secrets for label in s.labels]
        for arn, label in wanted:
            self._fetch(arn, label)

    def _fetch(self, arn: str, stage: Optional[str]) -> None:
        label = stage or LATEST
        with self._lock:
            configured = any(arn in s.arn and stage in s.labels for s in self._secrets)
        if stage and not configured:
            log.warning("secret %s: stage %s is not configured; not fetched from the cloud", arn, stage)
            return
        try:
            if self._client is None:
                self._client = self._client_factory()
            got = self._client.get_secret_value(SecretId=arn, VersionStage=label)
        except Exception as e:  # botocore's errors and connection failures alike: the cache answers
            with self._lock:
                self.counts["fetch_errors"] += 1
                self.last_error = f"{arn} ({label}): {type(e).__name__}: {e}"
            log.warning("secret %s (%s) could not be fetched: %s", arn, label, e)
            return
        entry = {"arn": got["ARN"], "name": got.get("Name"), "versionId": got.get("VersionId"),
                 "versionStages": list(got.get("VersionStages") or [label]), "secretString": got.get("SecretString"),
                 "secretBinary": got.get("SecretBinary")}
        with self._lock:
            self.counts["fetched"] += 1
            self._cache[entry["arn"]] = entry
            if entry["versionId"]:
                self._cache[entry["arn"] + entry["versionId"]] = entry
            for s in entry["versionStages"]:
                self._cache[entry["arn"] + s] = entry
            if entry["name"]:
                self._names[entry["name"]] = entry["arn"]

    # -- the operation ---------------------------------------------------------------------------
    def _arn_of(self, secret_id: str) -> str:
        if ARN_RE.fullmatch(secret_id):
            return secret_id
        with self._lock:
            arn = self._names.get(secret_id)
            configured = list(self._secrets)
        if arn:
            return arn
        pattern = re.compile(r".*:secret:" + re.escape(secret_id) + r"-[A-Za-z0-9]{6}(?::[A-Za-z0-9/_+=.@-]+)?")
        for s in configured:
            if pattern.fullmatch(s.arn):
                return s.arn
        raise ResourceNotFoundError(f"Secret not configured {secret_id}", resource_type="secret")

    def _cached(self, secret_id: str, arn: str, version_id: Optional[str], stage: Optional[str]) -> dict:
        with self._lock:
            if version_id:
                found = self._cache.get(arn + version_id)
                if found is None:
                    raise _NotFound(f"Version Id {version_id} not found for secret {secret_id}")
            elif stage:
                found = self._cache.get(arn + stage)
                if found is None:
                    raise _NotFound(f"Version stage {stage} not found for secret {secret_id}")
            else:
                found = self._cache.get(arn + LATEST)
                if found is None:
                    raise _NotFound(f"Secret not found {secret_id}")
            return dict(found)

    async def get_secret_value(self, call: Call, body: dict) -> None:
        secret_id = body.get("secretId")
        if not secret_id:
            raise ServiceError("SecretId absent in the request")
        if not isinstance(secret_id, str):
            raise ServiceError(f"secretId must be a string, got {type(secret_id).__name__}")
        arn = self._arn_of(secret_id)
        self.access.check(call.component, call.operation.name, arn)
        version_id, stage = body.get("versionId"), body.get("versionStage")
        if version_id and stage:
            raise ServiceError("Both versionId and Stage are set in the request")
        try:
            if body.get("refresh") and not version_id:
                await asyncio.to_thread(self._fetch, arn, stage)
            entry = self._cached(secret_id, arn, version_id, stage)
        except _NotFound as e:
            if version_id:
                raise ResourceNotFoundError(str(e), resource_type="secret") from None
            await asyncio.to_thread(self._fetch, arn, stage)
            try:
                entry = self._cached(secret_id, arn, version_id, stage)
            except _NotFound as again:
                raise ResourceNotFoundError(str(again), resource_type="secret") from None
        if entry["secretBinary"] is not None:
            value = {"secretBinary": base64.b64encode(bytes(entry["secretBinary"])).decode()}
        else:
            value = {"secretString": entry["secretString"]}
        with self._lock:
            self.counts["served"] += 1
        call.respond({"secretId": entry["arn"], "versionId": entry["versionId"],
                      "versionStage": entry["versionStages"], "secretValue": value})

    def status(self) -> dict:
        with self._lock:
            return {"configured": [s.arn for s in self._secrets], "cached": len({e["arn"] for e in
                                                                               self._cache.values()}),
                    "problems": list(self.problems), "last_error": self.last_error, **self.counts}
