"""Helpers of the runtime functional tests: function specs and a recording device endpoint."""
from __future__ import annotations

import asyncio
from pathlib import Path

from localcore.interfaces import FunctionSpec, Message, Route

LAMBDAS = Path(__file__).parent / "lambdas"
ACCOUNT = "123456789012"
OBSERVER = "device:observer"


def arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}:live"


def spec(name: str, code: str | None = None, **kw) -> FunctionSpec:
    return FunctionSpec(name=name, code_dir=str(LAMBDAS / (code or name)), handler="handler.function_handler",
                        arn=arn(name), **kw)


def to_observer(source: str, topic_filter: str) -> Route:
    return Route(source=source, target=OBSERVER, topic_filter=topic_filter)


class Recorder:
    """A MessageSink standing for a device that subscribed: records what the router hands it."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = asyncio.Event()

    def deliver(self, message: Message) -> None:
        self.messages.append(message)
        self._changed.set()

    async def wait_for(self, predicate, count: int = 1, timeout: float = 10.0) -> list[Message]:
        async def _wait():
            while True:
                found = [m for m in self.messages if predicate(m)]
                if len(found) >= count:
                    return found
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(_wait(), timeout)
