"""On-demand Lambda ``car_aggregator``, triggered by ``$aws/things/GG_TrafficLight/shadow/update/documents``.

On each transition of the reported light to green it draws a car count, updates the totals and,
every ``WRITE_EVERY_GREENS``-th green, puts an item into the DynamoDB table ``TABLE_NAME``
(created by the deployment, never here). boto3 is created on first use; region and endpoint
come from the usual AWS environment variables.
"""
from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timezone

from botocore.exceptions import BotoCoreError, ClientError

from car_stats import CarConfig, CarStats, decode_event, stats_item
from gglambda import lifecycle

LOG = logging.getLogger(__name__)


class CarAggregator:
    """Per-instance state and the lazily created DynamoDB table (injectable)."""

    def __init__(self, config: CarConfig, table=None) -> None:
        self.config = config
        self.stats = CarStats(config)
        self._table = table
        self._table_lock = threading.Lock()

    def table(self):
        with self._table_lock:
            if self._table is None:
                import boto3

                self._table = boto3.resource("dynamodb").Table(self.config.table_name)
            return self._table

    def handle(self, event: object) -> dict:
        try:
            documents = decode_event(event)
        except ValueError as exc:
            LOG.warning("ignored a message that is not a shadow documents object: %s", exc)
            return {"green": False, "error": str(exc)}
        phase = self.stats.observe(documents)
        if phase is None:
            return {"green": False}
        LOG.info("green light: %d cars; total %d over %d greens (min %d, max %d)", phase.cars,
                 phase.total_traffic, phase.total_greenlights, phase.min_cars, phase.max_cars)
        result = {"green": True, "cars": phase.cars, "total_traffic": phase.total_traffic,
                  "total_greenlights": phase.total_greenlights, "min_cars": phase.min_cars,
                  "max_cars": phase.max_cars, "written": False}
        if phase.write:
            item = stats_item(phase, datetime.now(timezone.utc))
            try:
                self.table().put_item(Item=item)
                result["written"] = True
                LOG.info("put item %s into %s", item["Time"], self.config.table_name)
            except (ClientError, BotoCoreError) as exc:
                LOG.error("put_item into %s failed: %s", self.config.table_name, exc)
                result["error"] = str(exc)
        return result


get_aggregator = lifecycle.created_once(lambda: CarAggregator(CarConfig.from_env(os.environ)))


def function_handler(event, context):
    return get_aggregator().handle(event)
