"""Helpers of the runtime functional tests: function specs and in-test neighbours."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

from localcore.interfaces import FunctionSpec, Message, ShadowReply

LAMBDAS = Path(__file__).parent / "lambdas"
ACCOUNT = "123456789012"


def arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}:live"


def spec(name: str, code: str | None = None, **kw) -> FunctionSpec:
    return FunctionSpec(name=name, code_dir=str(LAMBDAS / (code or name)), handler="handler.function_handler",
                        arn=arn(name), **kw)


class RecordingRouter:
    """In-test Publisher: records every message and forwards by (source, topic) routes to sinks.

    Stands in for ``localcore.router.Router`` (not in the tree yet): exact topics only."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.routes: list[tuple[str, str, object]] = []
        self._changed = asyncio.Event()

    def route(self, source: str, topic: str, sink) -> None:
        self.routes.append((source, topic, sink))

    def publish(self, message: Message) -> int:
        self.messages.append(message)
        self._changed.set()
        reached = 0
        for source, topic, sink in self.routes:
            if source == message.source and topic == message.topic:
                sink.deliver(message)
                reached += 1
        return reached

    async def wait_for(self, predicate, count: int = 1, timeout: float = 10.0) -> list[Message]:
        async def _wait():
            while True:
                found = [m for m in self.messages if predicate(m)]
                if len(found) >= count:
                    return found
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(_wait(), timeout)


class DictShadow:
    """In-test ShadowOperations (stands in for ``localcore.shadow``, not in the tree yet):
    classic-shadow replies for get/update/delete, without merge subtleties."""

    def __init__(self) -> None:
        self.docs: dict[str, dict] = {}
        self.calls: list[tuple[str, str, bytes]] = []

    def handle(self, thing: str, action: str, payload: bytes):
        self.calls.append((thing, action, payload))
        base = f"$aws/things/{thing}/shadow/{action}"
        if action == "update":
            state = json.loads(payload)["state"]
            doc = self.docs.setdefault(thing, {"state": {}, "version": 0})
            for part, values in state.items():
                doc["state"].setdefault(part, {}).update(values)
            doc["version"] += 1
            return [ShadowReply(base + "/accepted", json.dumps({"state": state, "version": doc["version"]}).encode())]
        if thing not in self.docs:
            return [ShadowReply(base + "/rejected", json.dumps({"code": 404, "message": f"No shadow exists with name: '{thing}'"}).encode())]
        if action == "get":
            return [ShadowReply(base + "/accepted", json.dumps(self.docs[thing]).encode())]
        del self.docs[thing]
        return [ShadowReply(base + "/accepted", json.dumps({"version": 1}).encode())]


