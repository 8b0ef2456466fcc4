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
        self._tableget_aggregator = lifecycle.created_once(lambda: CarAggregator(CarConfig.from_env(os.environ)))


def function_handler(event, context):
    return get_aggregator().handle(event)
