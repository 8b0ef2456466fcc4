"""IoT control-plane gap: a stable ``DescribeEndpoint`` (SigV4 service ``iot``, ``GET /endpoint``).

moto invents a new random ``<prefix>-ats.iot.<region>.amazonaws.com`` on every call, and that host
resolves nowhere. In local mode "the AWS IoT endpoint" is this machine (the local core's broker
and discovery listen there), so every endpoint type answers with the cloud's advertised host.
Everything else of IoT goes to moto.
"""

from __future__ import annotations

from .errors import InvalidRequest
from .routing import Router
from .wire import CloudRequest, CloudResponse, json_response

SERVICE = "iot"
ENDPOINT_TYPES = ("iot:Data", "iot:Data-ATS", "iot:CredentialProvider", "iot:Jobs")


class IoTApi:
    def __init__(self, advertised_host: str) -> None:
        self.advertised_host = advertised_host
        self._router = Router()
        self._router.add("GET", r"/endpoint", self._describe_endpoint)

    def handle(self, req: CloudRequest) -> CloudResponse | None:
        return self._router.dispatch(req)

    def _describe_endpoint(self, req: CloudRequest) -> CloudResponse:
        kind = req.query.get("endpointType", "iot:Data")
        if kind not in ENDPOINT_TYPES:
            raise InvalidRequest(f"endpointType {kind!r} must be one of {', '.join(ENDPOINT_TYPES)}")
        return json_response({"endpointAddress": self.advertised_host})
