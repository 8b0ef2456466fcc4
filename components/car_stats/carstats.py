"""com.ggbundle.CarStats — car statistics of the traffic light as a Greengrass V2 generic component (our own
implementation of what the car_aggregator Lambda does, written the way AWS's V1 → V2 migration guide tells users
to rewrite a Lambda: a generic component using awsiotsdk's ``GreengrassCoreIPCClientV2``).

* It subscribes on the core's local publish/subscribe (IPC SubscribeToTopic) to
  ``$aws/things/<thingName>/shadow/update/documents``, where the ShadowManager publishes a shadow's documents after
  each accepted update, and counts cars per new green phase with the rules of ``green_phases``.
* Every ``greensPerWrite`` greens it puts the statistics into the DynamoDB table ``tableName`` (boto3 with the
  core's token exchange credentials: ``AWS_CONTAINER_CREDENTIALS_FULL_URI``; region ``AWS_REGION``) and publishes
  them to IoT Core on ``statsTopic`` (IPC PublishToIoTCore).
* Its settings come from its configuration (GetConfiguration); a later change (SubscribeToConfigurationUpdate) takes
  effect without a restart, a change of ``thingName`` moves the subscription; deployments of invalid values are
  rejected (SubscribeToValidateConfigurationUpdates).
* It reports RUNNING (UpdateState) once subscribed; SIGTERM ends it with exit code 0. Losing the core's IPC
  connection or the documents subscription ends it with exit code 1 (the nucleus restarts it).

Python 3.7+; needs awsiotsdk and boto3 (the recipe's Install step installs them when the device lacks them).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import logging
import os
import random
import signal
import sys
import threading
from datetime import datetime, timezone
from typing import Any, Dict, Optional

from green_phases import (COMPONENT, Settings, SettingsError, Totals, changed_keys, decode_documents,
                          is_green_transition, stats_item, stats_message)

LOG = logging.getLogger(COMPONENT)
CALL_TIMEOUT_S = 10.0      # each IPC request waits at most this long for its answer


class CarStatsComponent:
    """The component's work over one IPC client (``GreengrassCoreIPCClientV2``): :meth:`start`, then events, then
    :meth:`close`. Events arrive on the client's executor (one worker thread: in order, one at a time)."""

    def __init__(self, ipc: Any, core_device: str, on_fatal: Any) -> None:
        self.ipc = ipc
        self.core_device = core_device
        self.on_fatal = on_fatal             # called with a reason when the component cannot go on
        self.settings = Settings()
        self.totals = Totals()
        self._rng = random.Random()
        self._lock = threading.Lock()        # settings and the subscription, between events and close()
        self._documents_op = None            # the SubscribeToTopic operation of the documents topic
        self._documents_topic = ""
        self._other_ops = []                 # the configuration streams
        self._tables = {}                    # type: Dict[str, Any]
        self._closing = False
        self.written = 0
        self.published = 0

    # ---------------------------------------------------------------------------------------- start / stop
    def start(self) -> None:
        from awsiot.greengrasscoreipc.model import ReportedLifecycleState

        settings = Settings.from_configuration(self._configuration())
        self._apply(settings, first=True)
        future, op = self.ipc.subscribe_to_configuration_update_async(
            on_stream_event=self._on_configuration_update, on_stream_error=self._stream_error("configuration updates"))
        self._other_ops.append(op)
        self._wait(future)
        future, op = self.ipc.subscribe_to_validate_configuration_updates_async(
            on_stream_event=self._on_validate, on_stream_error=self._stream_error("configuration validation"))
        self._other_ops.append(op)
        self._wait(future)
        self._wait(self.ipc.update_state_async(state=ReportedLifecycleState.RUNNING))
        LOG.info("RUNNING: counting green phases of %s (every %d greens: table %s, IoT Core topic %s)",
                 settings.thing_name, settings.greens_per_write, settings.table_name, settings.stats_topic)

    def close(self) -> None:
        with self._lock:
            self._closing = True
            ops = [op for op in [self._documents_op] + self._other_ops if op is not None]
            self._documents_op = None
            self._other_ops = []
        for op in ops:
            try:
                op.close().result(CALL_TIMEOUT_S)
            except ipc_errors() as e:  # closing while the connection is gone: nothing left to release
                LOG.debug("closing a stream: %s", e)

    # ---------------------------------------------------------------------------------------- configuration
    def _configuration(self) -> Dict[str, Any]:
        response = self._wait(self.ipc.get_configuration_async(key_path=[]))
        value = response.value
        if not isinstance(value, dict):
            raise SettingsError("GetConfiguration answered {!r}, not an object".format(value))
        return value

    def _apply(self, new: Settings, first: bool = False) -> None:
        """Use ``new`` from now on: subscribe to the new thing's documents before leaving the old one's."""
        with self._lock:
            old = self.settings
            resubscribe = first or new.documents_topic != self._documents_topic
        if resubscribe:
            op = self._subscribe(new.documents_topic)
            with self._lock:
                previous, self._documents_op, self._documents_topic = self._documents_op, op, new.documents_topic
            if previous is not None:
                previous.close()   # its on_stream_closed sees the topic is no longer ours
            LOG.info("subscribed to %s", new.documents_topic)
        with self._lock:
            self.settings = new
            if first or new.random_seed != old.random_seed:
                self._rng = random.Random(new.random_seed)
        changed = changed_keys(old, new)
        if not first and changed:
            LOG.info("configuration changed, in effect now: %s", changed)

    def _on_configuration_update(self, event: Any) -> None:
        update = event.configuration_update_event
        # one event per changed key; the whole configuration is read again each time (what is unchanged is no-op)
        LOG.debug("configuration update at %s", "/".join(update.key_path or []) or "/")
        try:
            self._apply(Settings.from_configuration(self._configuration()))
        except SettingsError as e:
            LOG.error("configuration update ignored, the previous settings stay: %s", e)
        except ipc_errors() as e:  # an IPC failure while re-reading: keep counting with what we have
            LOG.error("configuration update not read (%s: %s); the previous settings stay", type(e).__name__, e)

    def _on_validate(self, event: Any) -> None:
        from awsiot.greengrasscoreipc.model import ConfigurationValidityReport, ConfigurationValidityStatus

        request = event.validate_configuration_update_event
        try:
            Settings.from_configuration(request.configuration or {})
            report = ConfigurationValidityReport(status=ConfigurationValidityStatus.ACCEPTED,
                                                 deployment_id=request.deployment_id)
        except SettingsError as e:
            LOG.warning("rejecting the configuration of deployment %s: %s", request.deployment_id, e)
            report = ConfigurationValidityReport(status=ConfigurationValidityStatus.REJECTED,
                                                 deployment_id=request.deployment_id, message=str(e))
        try:
            self._wait(self.ipc.send_configuration_validity_report_async(configuration_validity_report=report))
        except ipc_errors() as e:  # the deployment then goes on after its timeout, as for a silent component
            LOG.error("configuration validity report not sent (%s: %s)", type(e).__name__, e)

    # ---------------------------------------------------------------------------------------- documents
    def _subscribe(self, topic: str) -> Any:
        def closed() -> None:
            with self._lock:
                ours = self._documents_topic == topic and not self._closing
            if ours:
                self.on_fatal("the subscription to {} was closed by the core".format(topic))

        future, op = self.ipc.subscribe_to_topic_async(
            topic=topic, on_stream_event=lambda ev: self._on_documents(topic, ev),
            on_stream_error=self._stream_error(topic), on_stream_closed=closed)
        self._wait(future)
        return op

    def _on_documents(self, topic: str, event: Any) -> None:
        with self._lock:
            if topic != self._documents_topic:
                return   # a late message of the thing we just left
            settings, rng = self.settings, self._rng
        if event.binary_message is not None:
            payload = event.binary_message.message
        elif event.json_message is not None:
            payload = event.json_message.message
        else:
            LOG.warning("ignored an empty message on %s", topic)
            return
        try:
            documents = decode_documents(payload)
        except ValueError as e:
            LOG.warning("ignored a message on %s that is not a shadow documents object: %s", topic, e)
            return
        if not is_green_transition(documents, settings.light_property, settings.green_value):
            return
        with self._lock:
            cars = rng.randint(settings.min_cars, settings.max_cars)
        phase = self.totals.record(cars, settings.greens_per_write)
        LOG.info("green light: %d cars; total %d over %d greens (min %d, max %d)", phase.cars,
                 phase.total_traffic, phase.total_greenlights, phase.min_cars, phase.max_cars)
        if phase.write:
            item = stats_item(phase, datetime.now(timezone.utc).isoformat(), self.core_device)
            self._put(settings.table_name, item)
            self._publish(settings.stats_topic, stats_message(item, settings.table_name))

    def _put(self, table_name: str, item: Dict[str, Any]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._table(table_name).put_item(Item=item)
        except (BotoCoreError, ClientError) as e:
            LOG.error("put_item into %s failed: %s", table_name, e)
            return
        self.written += 1
        LOG.info("put item %s into %s", item["Time"], table_name)

    def _table(self, name: str) -> Any:
        table = self._tables.get(name)
        if table is None:
            import boto3

            # a session of its own (boto3's default session is not for threads); region and credentials come
            # from the environment the nucleus gives the component (AWS_REGION, the token exchange service)
            table = boto3.session.Session().resource("dynamodb").Table(name)
            self._tables[name] = table
        return table

    def _publish(self, topic: str, payload: bytes) -> None:
        from awsiot.greengrasscoreipc.model import QOS

        try:
            self._wait(self.ipc.publish_to_iot_core_async(topic_name=topic, qos=QOS.AT_LEAST_ONCE, payload=payload))
        except ipc_errors() as e:  # refused, or the core's cloud connection failed: the item is in the table anyway
            LOG.error("PublishToIoTCore on %s failed (%s: %s)", topic, type(e).__name__, e)
            return
        self.published += 1
        LOG.info("published the statistics to IoT Core on %s", topic)

    # ---------------------------------------------------------------------------------------- helpers
    def _stream_error(self, what: str) -> Any:
        def on_error(error: Exception) -> bool:
            LOG.error("stream of %s failed: %s", what, error)
            return True   # close it (its on_stream_closed decides what that means)
        return on_error

    @staticmethod
    def _wait(future: Any) -> Any:
        return future.result(CALL_TIMEOUT_S)


def ipc_errors() -> tuple:
    """What an IPC call can raise: the SDK's errors (modeled ones such as UnauthorizedError included, all
    RuntimeError), the native connection's, and a request left unanswered for CALL_TIMEOUT_S."""
    from awscrt.exceptions import AwsCrtError

    return (RuntimeError, AwsCrtError, concurrent.futures.TimeoutError, OSError)


def _connect(on_disconnect: Any) -> Any:
    """The IPC client with a connection whose loss is reported, and one event thread (events in order)."""
    from awsiot.eventstreamrpc import LifecycleHandler
    from awsiot.greengrasscoreipc import connect
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

    class Lifecycle(LifecycleHandler):
        def on_disconnect(self, reason: Optional[Exception]) -> None:
            on_disconnect(reason)

        def on_error(self, error: Exception) -> bool:
            LOG.error("IPC connection error: %s", error)
            return True

    client = connect(lifecycle_handler=Lifecycle(), timeout=CALL_TIMEOUT_S)
    return GreengrassCoreIPCClientV2(client=client, executor=concurrent.futures.ThreadPoolExecutor(max_workers=1))


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="carstats.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p.parse_args(argv)


def main(argv: Optional[list] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    outcome = {"code": 0, "reason": "SIGTERM"}

    def fatal(reason: str) -> None:
        if not stop.is_set():
            outcome.update(code=1, reason=reason)
            stop.set()

    def on_signal(signum: int, _frame: Any) -> None:
        outcome["reason"] = signal.Signals(signum).name
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        ipc = _connect(lambda reason: fatal("the core closed the IPC connection ({})".format(reason)))
    except KeyError as e:
        LOG.error("cannot connect to the nucleus IPC: %s is not set (run me as a Greengrass V2 component)", e)
        return 1
    except ipc_errors() as e:  # no nucleus socket, or a token it refuses: nothing can work
        LOG.error("cannot connect to the nucleus IPC (%s: %s)", type(e).__name__, e)
        return 1
    component = CarStatsComponent(ipc, os.environ.get("AWS_IOT_THING_NAME", ""), fatal)
    try:
        try:
            component.start()
        except SettingsError as e:
            LOG.error("cannot start: %s", e)
            return 1
        except ipc_errors() as e:  # an IPC request refused or unanswered while starting
            LOG.error("cannot start: %s: %s", type(e).__name__, e)
            return 1
        stop.wait()
        LOG.info("stopping (%s): %d items written, %d messages published", outcome["reason"],
                 component.written, component.published)
        return outcome["code"]
    finally:
        component.close()
        try:
            ipc.close(executor_wait=True)
        except ipc_errors() as e:  # the connection may already be gone
            LOG.debug("closing the IPC client: %s", e)


if __name__ == "__main__":
    sys.exit(main())
