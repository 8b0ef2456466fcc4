"""Pinned Lambda ``hello_world``: publishes a greeting on ``TOPIC`` every ``INTERVAL_SECONDS``.

See ``lambdas/README.md`` for when the worker starts; :meth:`HelloWorld.stop` ends it at once.
"""
from __future__ import annotations

import logging
import os
import platform
import time
from typing import Dict

import greengrasssdk

from gglambda import lifecycle
from gglambda.publish import publish_errors
from greeting import HelloConfig, greeting, next_due

LOG = logging.getLogger(__name__)


class HelloWorld(lifecycle.Worker):
    def __init__(self, config: HelloConfig, iot_client=None) -> None:
        super(HelloWorld, self).__init__("hello_world")
        self._config = config
        self._iot = iot_client
        self._message = greeting(platform.platform())
        self._published = 0
        self._failed = 0

    def status(self) -> Dict[str, object]:
        return {
            "function": "hello_world",
            "running": self.running,
            "topic": self._config.topic,
            "published": self._published,
            "failed": self._failed,
        }

    def _run(self) -> None:
        if self._iot is None:
            self._iot = greengrasssdk.client("iot-data")
        errors = publish_errors()
        due = time.monotonic()
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            try:
                self._iot.publish(topic=self._config.topic, queueFullPolicy="AllOrException", payload=self._message)
                self._published += 1
            except errors as exc:
                self._failed += 1
                LOG.error("publish to %s failed: %s", self._config.topic, exc)
            due = next_due(due, time.monotonic(), self._config.interval_s)


main = lifecycle.start_once(lambda: HelloWorld(HelloConfig.from_env(os.environ)))
function_handler = lifecycle.status_handler(main)

if os.environ.get("MY_FUNCTION_ARN"):  # set by the Greengrass runtime for every function
    main()
