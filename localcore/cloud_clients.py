"""The core's boto3 clients of the cloud it belongs to, made once per service and shared.

Making a boto3 client loads its service model (a few hundred milliseconds); the core's services and
the dashboard ask for clients here instead of making their own. Thread-safe: services call it from
worker threads.
"""
from __future__ import annotations

import threading
from typing import Any, Dict, Mapping, Optional


class CloudClients:
    def __init__(self, region: str, endpoint_url: Optional[str], credentials: Mapping[str, str]) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self._credentials = dict(credentials)
        self._clients: Dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            made = self._clients.get(service)
            if made is None:
                from group.clients import shared_session   # the models the deploy parsed, not parsed again

                made = self._clients[service] = shared_session(
                    aws_access_key_id=self._credentials.get("AccessKeyId"),
                    aws_secret_access_key=self._credentials.get("SecretAccessKey")).client(
                    service, region_name=self.region, endpoint_url=self.endpoint_url)
            return made
