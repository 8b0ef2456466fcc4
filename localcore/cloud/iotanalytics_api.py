"""Wire of the IoT Analytics stand-in (REST JSON, SigV4 service ``iotanalytics``).

Routes, as the real service:
  ``POST /messages/batch``  ``{"channelName", "messages": [{"messageId", "payload" (base64)}]}``
                            → ``{"batchPutMessageErrorEntries": [...]}``
  ``POST /channels`` ``{"channelName"}`` → 201; ``GET /channels``; ``GET|DELETE /channels/<name>``
Read-back (unsigned, for tests and the dashboard):
  ``GET /_local/iotanalytics/channels`` → ``{"channels": {name: message_count}}``
  ``GET /_local/iotanalytics/channels/<name>/messages`` →
        ``{"channelName", "messages": [{"messageId", "payload" (base64), "receivedAt"}]}``
"""

from __future__ import annotations

from .errors import InvalidRequest
from .iotanalytics_state import IoTAnalyticsState
from .routing import Router
from .wire import CloudRequest, CloudResponse, CloudResponse as _R, b64decode_field, json_response

SERVICE = "iotanalytics"


class IoTAnalyticsApi:
    def __init__(self, state: IoTAnalyticsState) -> None:
        self.state = state
        r = self._router = Router()
        r.add("POST", r"/messages/batch", self._batch_put)
        r.add("POST", r"/channels", self._create_channel)
        r.add("GET", r"/channels", self._list_channels)
        r.add("GET", r"/channels/(?P<name>[^/]+)", self._describe_channel)
        r.add("DELETE", r"/channels/(?P<name>[^/]+)", self._delete_channel)
        r.add("GET", r"/_local/iotanalytics/channels", self._local_channels)
        r.add("GET", r"/_local/iotanalytics/channels/(?P<name>[^/]+)/messages", self._local_messages)

    def handle(self, req: CloudRequest) -> CloudResponse | None:
        return self._router.dispatch(req)

    def _batch_put(self, req: CloudRequest) -> _R:
        body = req.json()
        messages = body.get("messages")
        if isinstance(messages, list):
            decoded = []
            for i, m in enumerate(messages):
                if not isinstance(m, dict):
                    raise InvalidRequest(f"messages[{i}] must be an object")
                m = dict(m)
                if "payload" in m:
                    m["payload"] = b64decode_field(m["payload"], f"messages[{i}].payload")
                decoded.append(m)
            messages = decoded
        errors = self.state.batch_put(body.get("channelName"), messages)
        return json_response({"batchPutMessageErrorEntries": errors})

    def _create_channel(self, req: CloudRequest) -> _R:
        body = req.json()
        ch = self.state.create_channel(body.get("channelName"), body.get("retentionPeriod"))
        return json_response(
            {"channelName": ch["name"], "channelArn": ch["arn"], "retentionPeriod": ch["retentionPeriod"]},
            201,
        )

    def _list_channels(self, req: CloudRequest) -> _R:
        return json_response(
            {
                "channelSummaries": [
                    {
                        "channelName": c["name"],
                        "status": c["status"],
                        "creationTime": c["creationTime"],
                        "lastUpdateTime": c["lastUpdateTime"],
                    }
                    for c in self.state.list_channels()
                ]
            }
        )

    def _describe_channel(self, req: CloudRequest, name: str) -> _R:
        c = self.state.describe_channel(name)
        return json_response(
            {
                "channel": {
                    "name": c["name"],
                    "arn": c["arn"],
                    "status": c["status"],
                    "retentionPeriod": c["retentionPeriod"],
                    "creationTime": c["creationTime"],
                    "lastUpdateTime": c["lastUpdateTime"],
                }
            }
        )

    def _delete_channel(self, req: CloudRequest, name: str) -> _R:
        self.state.delete_channel(name)
        return _R(204)

    def _local_channels(self, req: CloudRequest) -> _R:
        return json_response(self.state.status())

    def _local_messages(self, req: CloudRequest, name: str) -> _R:
        return json_response(
            {"channelName": name, "messages": [m.to_json() for m in self.state.messages(name)]}
        )
