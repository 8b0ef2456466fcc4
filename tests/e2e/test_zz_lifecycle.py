"""A second, short ``deploy.py run`` of its own (the shared run is never destroyed):

* start: endpoint.json within the bound, with every endpoint;
* the raw stream exported to the IoT Analytics stand-in (``EXPORT_TARGET: iotanalytics``);
* the control plane: ``destroy`` against the running cloud → ``plan --exit-code`` returns 2;
* stop: SIGINT → exit 0 within 10 s, nothing left running, endpoint.json removed.
"""
import base64
import json
import urllib.request

import pytest

import e2e_gg

pytestmark = pytest.mark.slow

CHANNEL = "gg_bundle_raw"


def _channel_messages(cloud_url):
    url = f"{cloud_url}/_local/iotanalytics/channels/{CHANNEL}/messages"
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.loads(resp.read())
    return [json.loads(base64.b64decode(m["payload"])) for m in body["messages"]]


def test_run_iotanalytics_export_destroy_plan_and_clean_stop(tmp_path):
    running = e2e_gg.start_group(tmp_path / "bundle",
                                 overrides={"producer": {"EXPORT_TARGET": "iotanalytics"}})
    stopped = None
    try:
        assert running.ready_seconds < e2e_gg.READY_TIMEOUT_S
        ep = running.endpoint
        assert ep["pid"] == running.run.pid
        for key in ("mqtt_port", "discovery_port", "stream_manager_port", "ipc_port"):
            assert isinstance(ep[key], int) and ep[key] > 0, (key, ep)
        assert ep["dashboard_url"].startswith("http://127.0.0.1:") and "token=" in ep["dashboard_url"]
        assert ep["certs_dir"] == str(running.certs_dir)
        assert (running.certs_dir / "root-ca.pem").exists()

        # raw readings reach the IoT Analytics channel, in stream order, and not the raw Kinesis stream
        messages = e2e_gg.wait_for(lambda: len(_channel_messages(running.cloud_url)) >= 5 and
                                   _channel_messages(running.cloud_url), 30, f"messages in channel {CHANNEL}")
        client = running.stream_client()
        try:
            from greengrasssdk.stream_manager import ReadMessagesOptions

            local = client.read_messages("SensorReadings", ReadMessagesOptions(
                desired_start_sequence_number=0, min_message_count=len(messages),
                max_message_count=len(messages), read_timeout_millis=5000))
        finally:
            client.close()
        assert messages == [json.loads(m.payload) for m in local][:len(messages)]
        kinesis = running.client("kinesis")
        description = kinesis.describe_stream(StreamName="gg-bundle-raw")["StreamDescription"]
        shard = description["Shards"][0]["ShardId"]
        it = kinesis.get_shard_iterator(StreamName="gg-bundle-raw", ShardIteratorType="TRIM_HORIZON",
                                        ShardId=shard)["ShardIterator"]
        assert kinesis.get_records(ShardIterator=it)["Records"] == []

        # control plane: nothing to change, then destroy → plan sees everything to create again
        plan = running.deploy_cli("plan", "--exit-code")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        destroy = running.deploy_cli("destroy", timeout=90)
        assert destroy.returncode == 0, destroy.stdout + destroy.stderr
        plan = running.deploy_cli("plan", "--exit-code")
        assert plan.returncode == 2, plan.stdout + plan.stderr
        assert "+" in plan.stdout, plan.stdout
    finally:
        stopped = running.stop()
    e2e_gg.assert_clean_stop(stopped, running.run)
    assert stopped["children"], "the run had no child processes (Lambda instances) to check"
    assert stopped["stop_seconds"] < e2e_gg.STOP_TIMEOUT_S
