"""AWS clients, progress reporting and AWS error helpers shared by every platform's deploy steps."""
from __future__ import annotations

import json
import logging
import os
import threading
import urllib.error
import urllib.request
from contextlib import nullcontext
from typing import Any, ContextManager, Dict, Optional, Tuple

import boto3
import botocore.loaders
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .errors import DeployError
from .plan import ADD, CHANGE

log = logging.getLogger(__name__)

NOT_FOUND_CODES = frozenset({
    "404", "ResourceNotFoundException", "NotFoundException", "NoSuchEntity", "NoSuchBucket",
    "IdNotFoundException", "ResourceNotFound", "EntityNotFound", "NotFound",
})

# ---- clients -----------------------------------------------------------------------------------

_LOADER: Any = None
_LOADER_LOCK = threading.Lock()


class _SharedLoader(botocore.loaders.Loader):
    """botocore's data loader, shared by the process' sessions: one parse per file, also when threads ask for the
    same model at once (a parse holds the GIL for its whole length — 0.15-0.3 s for the S3 model or the endpoints
    file — so a duplicate one stalls every other thread of the process, the core's event loop included)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parse = threading.RLock()

    def load_service_model(self, *args: Any, **kwargs: Any) -> Any:
        with self._parse:
            return super().load_service_model(*args, **kwargs)

    def load_data_with_path(self, *args: Any, **kwargs: Any) -> Any:
        with self._parse:
            return super().load_data_with_path(*args, **kwargs)

    def load_data(self, *args: Any, **kwargs: Any) -> Any:
        with self._parse:
            return super().load_data(*args, **kwargs)


def _shared_loader(core: Any) -> Any:
    """One botocore data loader per process: its cache keeps the parsed service models, which
    are most of the cost of making a client (a fleet deploy makes many)."""
    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            data_path = core.get_config_variable("data_path")
            paths = [os.path.expanduser(os.path.expandvars(x)) for x in data_path.split(os.pathsep)] if data_path else []
            _LOADER = _SharedLoader(extra_search_paths=paths)   # as botocore.loaders.create_loader makes it
        return _LOADER


def shared_session(**kwargs: Any) -> boto3.session.Session:
    """A new boto3 session (keywords as ``boto3.session.Session``) on a botocore session that uses the
    process' one data loader: a client made on it parses no service model another client parsed before
    (the deploy, the local cloud's stand-ins and the core make clients of the same services). Each caller
    gets its own session (sessions are not thread-safe); only the loader's cache is shared."""
    core = botocore.session.get_session()
    loader = _shared_loader(core)
    core.register_component("data_loader", loader)
    session = boto3.session.Session(botocore_session=core, **kwargs)
    with _LOADER_LOCK:   # each boto3 session adds its resource folder to the loader's paths: once is enough
        paths = loader.search_paths
        paths[:] = list(dict.fromkeys(paths))
    return session


def share_default_session() -> None:
    """``boto3.client(...)`` anywhere in this process (the core's services, the local cloud) on the shared loader."""
    boto3.DEFAULT_SESSION = shared_session()


class Clients:
    """boto3 clients for one region and (optionally) one endpoint URL, made lazily."""

    def __init__(self, session: boto3.session.Session, region: str,
                 endpoint_url: Optional[str] = None) -> None:
        self.session = session
        self.region = region
        self.endpoint_url = endpoint_url
        self._clients: Dict[str, Any] = {}
        self._account: Optional[str] = None
        self._config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10,
                              read_timeout=60)

    @classmethod
    def create(cls, region: str, endpoint_url: Optional[str] = None,
               credentials: Optional[Tuple[str, str]] = None) -> "Clients":
        """``credentials=(key id, secret)``; ``None`` uses the usual boto3 chain."""
        if credentials is not None:
            session = shared_session(aws_access_key_id=credentials[0], aws_secret_access_key=credentials[1],
                                     region_name=region)
        else:
            session = shared_session(region_name=region)
        return cls(session, region, endpoint_url)

    def client(self, service: str) -> Any:
        c = self._clients.get(service)
        if c is None:
            c = self.session.client(service, region_name=self.region, endpoint_url=self.endpoint_url,
                                    config=self._config)
            self._clients[service] = c
        return c

    def __getattr__(self, name: str) -> Any:
        services = {"iot": "iot", "iam": "iam", "greengrass": "greengrass", "lambda_": "lambda",
                    "dynamodb": "dynamodb", "s3": "s3", "kinesis": "kinesis", "kinesisvideo": "kinesisvideo",
                    "sts": "sts", "greengrassv2": "greengrassv2"}
        if name in services:
            return self.client(services[name])
        raise AttributeError(name)

    @property
    def partition(self) -> str:
        return self.session.get_partition_for_region(self.region) if hasattr(
            self.session, "get_partition_for_region") else "aws"

    def account_id(self) -> str:
        if self._account is None:
            self._account = self.sts.get_caller_identity()["Account"]
        return self._account

    def signed_json(self, service: str, method: str, path: str, body: Optional[dict] = None,
                    timeout: float = 30.0) -> Tuple[int, Any]:
        """A SigV4-signed REST-JSON call, for services botocore has no client for (IoT Analytics)."""
        base = self.endpoint_url or f"https://{service}.{self.region}.amazonaws.com"
        url = base.rstrip("/") + path
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        req = AWSRequest(method=method, url=url, data=data, headers=headers)
        creds = self.session.get_credentials()
        if creds is None:
            raise DeployError(service, path, "no AWS credentials found", "configure credentials for boto3")
        SigV4Auth(creds.get_frozen_credentials(), service, self.region).add_auth(req)
        prepared = urllib.request.Request(url, data=data, method=method, headers=dict(req.headers.items()))
        try:
            with urllib.request.urlopen(prepared, timeout=timeout) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            raw, status = err.read(), err.code
        except (urllib.error.URLError, OSError) as err:
            raise DeployError(service, f"{method} {path}",
                              f"{url} unreachable: {getattr(err, 'reason', err)}",
                              "check the endpoint (--endpoint-url / AWS_ENDPOINT_URL)") from None
        try:
            return status, (json.loads(raw) if raw else {})
        except ValueError:
            return status, {"message": raw[:200].decode(errors="replace")}

# ---- progress ----------------------------------------------------------------------------------

class Progress:
    """Silent progress; subclass (see RichProgress) to show one line per step and a spinner."""

    def step(self, action: str, kind: str, name: str, detail: str = "") -> None:
        log.info("%s %s %s %s", action, kind, name, detail)

    def note(self, text: str) -> None:
        log.warning("%s", text)

    def waiting(self, text: str) -> ContextManager[Any]:
        return nullcontext()

class RichProgress(Progress):
    """One line per step (rich), a spinner while waiting."""

    _STYLE = {ADD: "green", CHANGE: "yellow", "-": "red", "=": "dim"}

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=False, highlight=False)

    def step(self, action: str, kind: str, name: str, detail: str = "") -> None:
        from rich.markup import escape

        style = self._STYLE.get(action, "")
        tail = f"  [dim]{escape(detail)}[/dim]" if detail else ""
        self.console.print(f"  [{style}]{action}[/{style}] {kind} [bold]{escape(name)}[/bold]{tail}")

    def note(self, text: str) -> None:
        from rich.markup import escape

        self.console.print(f"  [yellow]![/yellow] {escape(text)}")

    def waiting(self, text: str) -> ContextManager[Any]:
        return self.console.status(text, spinner="dots")

# ---- errors ------------------------------------------------------------------------------------

def error_code(err: Exception) -> str:
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    return type(err).__name__

def http_status(err: Exception) -> int:
    if isinstance(err, ClientError):
        return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return 0

def is_not_found(err: Exception) -> bool:
    return isinstance(err, ClientError) and (error_code(err) in NOT_FOUND_CODES or http_status(err) == 404)

def error_cause(err: Exception) -> str:
    if isinstance(err, ClientError):
        e = err.response.get("Error", {})
        op = getattr(err, "operation_name", "")
        msg = str(e.get("Message") or "").strip()
        if msg.startswith("<"):  # an HTML error page instead of an AWS error
            msg = ("the endpoint has no route for this API" if http_status(err) == 404
                   else "the endpoint answered with an HTML error page")
        return f"{op} → {e.get('Code', '?')} (HTTP {http_status(err)}): {msg[:300]}"
    return f"{type(err).__name__}: {err}"

def error_fix(err: Exception) -> str:
    code = error_code(err)
    if http_status(err) == 404 and code == "404":
        return "this endpoint does not implement the API; use the local cloud (deploy.py run) or real AWS, " \
               "or drop that part from the group file"
    if code in ("AccessDenied", "AccessDeniedException", "UnrecognizedClientException",
                "InvalidClientTokenId", "ExpiredToken"):
        return "check the AWS credentials and their permissions"
    if isinstance(err, BotoCoreError):
        return "check that the endpoint is reachable (--endpoint-url / AWS_ENDPOINT_URL) and re-run"
    return "fix the cause and re-run deploy; it continues from the recorded state"

def collision(kind: str, name: str, what: str) -> DeployError:
    return DeployError(kind, name, f"{what} '{name}' already exists but was not made by this deploy "
                       "(not in its state file)",
                       "delete or rename the existing one, or rename it in the group file; deploy never "
                       "takes over objects it did not make")
