"""Wire of the IoT SiteWise stand-in (REST JSON, SigV4 service ``iotsitewise``).

``POST /properties`` is ``BatchPutAssetPropertyValue``. botocore prefixes the host with
``data.``; local clients pass ``Config(inject_host_prefix=False)``.
Read-back (unsigned): ``GET /_local/iotsitewise/entries[?propertyAlias=|assetId=&propertyId=]``
→ ``{"entries": [<entry as sent> + "receivedAt"]}``.
"""

from __future__ import annotations

from .routing import Router
from .sitewise_state import SiteWiseState
from .wire import CloudRequest, CloudResponse, json_response

SERVICE = "iotsitewise"


class SiteWiseApi:
    def __init__(self, state: SiteWiseState) -> None:
        self.state = state
        r = self._router = Router()
        r.add("POST", r"/properties", self._batch_put)
        r.add("GET", r"/_local/iotsitewise/entries", self._local_entries)

    def handle(self, req: CloudRequest) -> CloudResponse | None:
        return self._router.dispatch(req)

    def _batch_put(self, req: CloudRequest) -> CloudResponse:
        errors = self.state.batch_put(req.json().get("entries"))
        return json_response({"errorEntries": errors})

    def _local_entries(self, req: CloudRequest) -> CloudResponse:
        q = req.query
        return json_response(
            {
                "entries": self.state.entries(
                    property_alias=q.get("propertyAlias"),
                    asset_id=q.get("assetId"),
                    property_id=q.get("propertyId"),
                )
            }
        )
