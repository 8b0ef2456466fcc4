"""A new deployment of the running group (``deploy.py deploy --target local``) is applied by the
running LocalCore: only what changed restarts, the new subscription table routes, the deployment
ends Success; a model the core cannot apply ends Failure and the old configuration keeps running."""
from __future__ import annotations

import asyncio
import copy
import json
import socket
import ssl

import pytest

import deploy
from localcore.interfaces import Message
from localcore.pki import certificate_id
from tests.functional.core.conftest import base_group
from tests.functional.runtime.support import Recorder


async def pid_of(core, name: str) -> int:
    """The pid of the instance answering an invocation (the echo Lambda returns os.getpid())."""
    return (await core.runtime.invoke(name, {"ping": name})).json()["pid"]


def sensor(core, topic: str, body: dict) -> int:
    return core.router.publish(Message(source="device:Sensor", topic=topic,
                                       payload=json.dumps(body).encode()))


async def test_changed_function_restarts_alone_and_new_route_delivers(deployed):
    env = await deployed(base_group("Redeploy"))
    core = env.core
    observer = Recorder()
    core.router.attach("device:Observer", observer)
    alpha_pid, beta_pid = await pid_of(core, "alpha"), await pid_of(core, "beta")
    assert sensor(core, "in/extra", {"n": 0}) == 0  # no subscription yet

    v2 = copy.deepcopy(base_group("Redeploy"))
    v2["functions"][1]["environment"] = {"OUT_TOPIC": "beta/v2"}
    v2["subscriptions"].append({"source": "Sensor", "target": "alpha", "topic": "in/extra"})
    env.write_group(v2)
    assert await asyncio.to_thread(deploy.main, env.cli("deploy", "--timeout", "20")) == 0

    dep_id = core.deployment.id
    status = await env.wait_status(dep_id)
    assert status["DeploymentStatus"] == "Success" and "ErrorMessage" not in status
    assert core.deployment.changes["functions"] == {
        "started": [], "stopped": [], "restarted": ["beta"], "unchanged": ["alpha"]}
    assert await pid_of(core, "alpha") == alpha_pid  # untouched pinned function: same process
    assert await pid_of(core, "beta") != beta_pid
    # the new subscription routes to the running alpha
    assert sensor(core, "in/extra", {"n": 1}) == 1
    [out] = await observer.wait_for(lambda m: json.loads(m.payload)["subject"] == "in/extra")
    assert json.loads(out.payload)["pid"] == alpha_pid
    # the restarted beta runs with its new environment
    await core.runtime.invoke("beta", {"n": 2})
    [beta_out] = await observer.wait_for(lambda m: json.loads(m.payload)["event"] == {"n": 2})
    assert beta_out.topic == "beta/v2"
    assert core.status()["deployment"]["status"] == "Success"

    # a redeploy with nothing changed restarts nothing
    beta_pid = await pid_of(core, "beta")
    assert await asyncio.to_thread(deploy.main, env.cli("deploy", "--redeploy", "--timeout", "20")) == 0
    assert core.deployment.id != dep_id and core.deployment.status == "Success"
    assert core.deployment.changes["functions"]["restarted"] == []
    assert await pid_of(core, "beta") == beta_pid


async def test_new_device_becomes_a_member_and_removed_function_stops(deployed):
    env = await deployed(base_group("Members"))
    core = env.core
    assert not core.discovery.is_member("Camera")
    token = core.runtime.token_of("beta")

    v2 = copy.deepcopy(base_group("Members"))
    v2["devices"].append({"thing": "Camera"})
    v2["functions"] = v2["functions"][:1]
    v2["subscriptions"] = [s for s in v2["subscriptions"] if "beta" not in (s["source"], s["target"])]
    env.write_group(v2)
    assert await asyncio.to_thread(deploy.main, env.cli("deploy", "--timeout", "20")) == 0

    assert core.deployment.changes["functions"]["stopped"] == ["beta"]
    assert core.deployment.changes["devices"]["added"] == ["Camera"]
    # the certificate deploy wrote for the new device is the one the core accepts
    cert = (env.bundle / "certs" / "Camera" / "cert.pem").read_bytes()
    assert core._members()["Camera"] == [certificate_id(cert)]
    assert core.discovery.is_member("Camera")
    assert "beta" not in core.runtime.status()["functions"] and not core.runtime.token_valid(token)
    assert "function:beta" not in core.router.status()["sinks"]


async def test_unappliable_deployment_fails_and_old_config_keeps_running(deployed):
    env = await deployed(base_group("Broken"))
    core = env.core
    observer = Recorder()
    core.router.attach("device:Observer", observer)
    alpha_pid = await pid_of(core, "alpha")
    routes_before = core.router.routes

    # a function whose code is not written yet ('code: pending' validates, deploys, cannot run)
    (env.bundle / "lambdas" / "gamma").mkdir()
    (env.bundle / "lambdas" / "gamma" / "notes.py").write_text("# handler to come\n")
    v2 = copy.deepcopy(base_group("Broken"))
    v2["functions"].append({"name": "gamma", "pinned": True, "memory_mb": 64, "code": "pending"})
    v2["functions"][0]["environment"] = {"OUT_TOPIC": "alpha/v2"}
    v2["subscriptions"].append({"source": "Sensor", "target": "gamma", "topic": "in/gamma"})
    env.write_group(v2)
    # deploy waits for the core's answer and reports the failure
    assert await asyncio.to_thread(deploy.main, env.cli("deploy", "--timeout", "20")) == 1

    status = await env.wait_status(core.deployment.id)
    assert status["DeploymentStatus"] == "Failure"
    assert "function 'gamma': handler module 'handler' not found" in status["ErrorMessage"]
    # nothing of v2 was applied: same processes, same table, old environment
    assert await pid_of(core, "alpha") == alpha_pid
    assert core.router.routes == routes_before and "gamma" not in core.runtime.status()["functions"]
    assert sensor(core, "in/alpha", {"n": 1}) == 1
    await observer.wait_for(lambda m: m.topic == "alpha/out")

    # fixed and deployed again: Success
    (env.bundle / "lambdas" / "gamma" / "handler.py").write_text(
        (env.bundle / "lambdas" / "alpha" / "handler.py").read_text())
    del v2["functions"][-1]["code"]
    env.write_group(v2)
    assert await asyncio.to_thread(deploy.main, env.cli("deploy", "--timeout", "20")) == 0
    assert core.deployment.changes["functions"]["started"] == ["gamma"]
    assert core.deployment.changes["functions"]["restarted"] == ["alpha"]


async def test_invalid_group_file_fails_the_deployment_with_the_issues(deployed):
    env = await deployed(base_group("BadFile"))
    core = env.core
    alpha_pid = await pid_of(core, "alpha")
    gg = env.greengrass()
    group = gg.get_group(GroupId=env.group_id)
    # a deployment of the current version, made while the file on disk is broken
    env.group_file.write_text(env.group_file.read_text().replace("memory_mb: 64", "memory_mb: 1", 1))
    dep = gg.create_deployment(GroupId=env.group_id, GroupVersionId=group["LatestVersion"],
                               DeploymentType="NewDeployment")
    status = await env.wait_status(dep["DeploymentId"])
    assert status["DeploymentStatus"] == "Failure"
    assert "functions[0].memory_mb" in status["ErrorMessage"] and "group.yaml" in status["ErrorMessage"]
    assert await pid_of(core, "alpha") == alpha_pid


async def test_new_connectivity_host_is_discovered_and_in_the_broker_certificate(deployed):
    env = await deployed(base_group("Conn"))
    core = env.core
    certs = env.bundle / "certs" / "Sensor"

    def handshake(host: str) -> None:
        """Mutual TLS to the running broker as the Sensor device, checking the name ``host``."""
        ctx = ssl.create_default_context(cadata=core.group_ca.cert_pem.decode())
        ctx.load_cert_chain(certs / "cert.pem", certs / "private.key")
        with socket.create_connection(("127.0.0.1", core.broker.port), timeout=5) as sock:
            with ctx.wrap_socket(sock, server_hostname=host):
                pass

    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncio.to_thread(handshake, "gg-core.test")

    v2 = copy.deepcopy(base_group("Conn"))
    v2["core"]["connectivity"] = [{"host": "127.0.0.1"}, {"host": "gg-core.test", "metadata": "lan"}]
    env.write_group(v2)
    # connectivity alone makes no new group version: deploy updates it in the cloud; --redeploy
    # makes the deployment that tells the core
    assert await asyncio.to_thread(deploy.main, env.cli("deploy", "--redeploy", "--timeout", "20")) == 0

    assert core.deployment.changes["connectivity_changed"] is True
    hosts = [(c.host, c.port) for c in core.discovery.group.connectivity]
    assert ("gg-core.test", core.broker.port) in hosts  # the broker's real port, not 8883
    await asyncio.to_thread(handshake, "gg-core.test")


async def test_change_needing_a_core_restart_fails_with_what_it_is(deployed):
    env = await deployed(base_group("Restart"))
    gg = env.greengrass()
    v2 = copy.deepcopy(base_group("Restart"))
    v2["stream_manager"] = {"enabled": True}
    env.write_group(v2)
    latest = gg.get_group(GroupId=env.group_id)["LatestVersion"]
    dep = gg.create_deployment(GroupId=env.group_id, GroupVersionId=latest, DeploymentType="NewDeployment")
    status = await env.wait_status(dep["DeploymentId"])
    assert status["DeploymentStatus"] == "Failure"
    assert "restart deploy.py run" in status["ErrorMessage"] and "stream_manager" in status["ErrorMessage"]
    assert env.core.streams is None
