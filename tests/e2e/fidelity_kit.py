"""What the ``test_v2_fidelity_*`` modules share (no tests here): one small group — the core alone, no functions
or devices — under the real ``deploy.py run --platform v2``, tiny components of our own made through the AWS API
(an inline recipe whose scripts write into their work folder; artifacts in the local cloud's S3), deployment
revisions made with boto3 ``greengrassv2.create_deployment``, and what a user observes: the deployment's status
on the device (``ListEffectiveDeployments``), the installed components (``ListInstalledComponents``), the core
device's health (``GetCoreDevice``), each component's own output and process.

``conftest.py`` loads it as ``e2e_fidelity_kit`` (the e2e folder is not on sys.path): ``import e2e_fidelity_kit as kit``.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

import e2e_gg

CORE = "GG_Core"
BUCKET = "gg-fidelity-artifacts"
GROUP_YAML = """\
group: {name: gg-fidelity, region: us-east-1}
core: {thing: GG_Core, connectivity: [{host: 127.0.0.1, port: 8883}]}
"""
DEPLOY_TIMEOUT_S = 45.0
TERMINAL = ("SUCCEEDED", "COMPLETED", "FAILED", "REJECTED", "TIMED_OUT", "CANCELED")


def start(tmp_path_factory, name: str) -> Iterator["Fidelity"]:
    """A module fixture's body: the run, yielded as a :class:`Fidelity`; stopped cleanly at the end."""
    bundle = tmp_path_factory.mktemp(name)
    source = bundle / "source" / "group.yaml"
    source.parent.mkdir()
    source.write_text(GROUP_YAML)
    running = e2e_gg.start_group(bundle / "bundle", source=source, platform="v2")
    try:
        yield Fidelity(running)
    finally:
        e2e_gg.assert_clean_stop(running.stop(), running.run)


class Fidelity:
    """One run and the AWS clients a user would use on it."""

    def __init__(self, run) -> None:
        self.run = run
        self.gg, self.s3, self.iot = run.client("greengrassv2"), run.client("s3"), run.client("iot")
        self.s3.create_bucket(Bucket=BUCKET)
        first = run.endpoint["deployment_id"]
        self.wait_done(first)
        base = self.gg.get_deployment(deploymentId=first)
        self.group_arn = base["targetArn"]
        self.base_components = dict(base["components"])   # the public ones deploy.py put there (Nucleus, ...)
        self.thing_arn = self.iot.describe_thing(thingName=CORE)["thingArn"]
        self.root = run.state_dir / "v2" / "greengrass"

    # ------------------------------------------------------------------ components and deployments
    def component(self, name: str, version: str, *, run: Any = None, install: Any = None, config: Optional[dict] = None,
                  deps: Optional[Mapping[str, Any]] = None, artifacts: Optional[Mapping[str, bytes]] = None,
                  missing_artifact: bool = False, lifecycle: Optional[dict] = None) -> None:
        """CreateComponentVersion from an inline recipe. ``run``/``install``: a step (script text or map);
        ``artifacts``: file name → bytes put in S3 first; ``missing_artifact``: an artifact deleted after the
        version was made (a download that fails on the device)."""
        lc = dict(lifecycle or {})
        if run is not None:
            lc["Run"] = run
        if install is not None:
            lc["Install"] = install
        uris = []
        files = dict(artifacts or {})
        if missing_artifact:
            files["gone.txt"] = b"soon gone"
        for fname, body in files.items():
            key = f"{name}/{version}/{fname}"
            self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
            uris.append({"URI": f"s3://{BUCKET}/{key}"})
        recipe = {"RecipeFormatVersion": "2020-01-25", "ComponentName": name, "ComponentVersion": version,
                  "ComponentConfiguration": {"DefaultConfiguration": config or {}},
                  "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": lc, "Artifacts": uris}]}
        if deps:
            recipe["ComponentDependencies"] = {
                d: (v if isinstance(v, dict) else {"VersionRequirement": v, "DependencyType": "HARD"})
                for d, v in deps.items()}
        self.gg.create_component_version(inlineRecipe=json.dumps(recipe).encode())
        if missing_artifact:
            self.s3.delete_object(Bucket=BUCKET, Key=f"{name}/{version}/gone.txt")

    def deploy(self, components: Mapping[str, Any], *, thing: bool = False, policy: str = "ROLLBACK",
               base: bool = True) -> str:
        """A new deployment revision to the thing group (or the core's thing): ``components`` name → version or a
        component spec (``{"componentVersion", "configurationUpdate", "runWith"}``); ``base``: keep the public
        components deploy.py deployed (thing group only)."""
        comps = dict(self.base_components) if base and not thing else {}
        for name, spec in components.items():
            comps[name] = {"componentVersion": spec} if isinstance(spec, str) else dict(spec)
        for spec in comps.values():
            upd = spec.get("configurationUpdate")
            if upd and isinstance(upd.get("merge"), dict):
                spec["configurationUpdate"] = dict(upd, merge=json.dumps(upd["merge"]))
        return self.gg.create_deployment(
            targetArn=self.thing_arn if thing else self.group_arn, deploymentName="fidelity", components=comps,
            deploymentPolicies={"failureHandlingPolicy": policy})["deploymentId"]

    def effective(self, deployment_id: str) -> Optional[dict]:
        for e in self.gg.list_effective_deployments(coreDeviceThingName=CORE)["effectiveDeployments"]:
            if e["deploymentId"] == deployment_id:
                return e
        return None

    def wait_done(self, deployment_id: str, timeout: float = DEPLOY_TIMEOUT_S) -> dict:
        """The core device's terminal report of ``deployment_id`` (its ListEffectiveDeployments entry)."""
        def done():
            e = self.effective(deployment_id)
            return e if e and e["coreDeviceExecutionStatus"] in TERMINAL else None
        try:
            return e2e_gg.wait_for(done, timeout, f"the core's report of deployment {deployment_id}", interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- run output:\n{self.run.run.output()[-3000:]}") from None

    def succeeded(self, deployment_id: str) -> dict:
        e = self.wait_done(deployment_id)
        assert e["coreDeviceExecutionStatus"] in ("SUCCEEDED", "COMPLETED"), (e, self.installed())
        return e

    def failed(self, deployment_id: str) -> dict:
        e = self.wait_done(deployment_id)
        assert e["coreDeviceExecutionStatus"] == "FAILED", (e, self.installed())
        return e

    # ------------------------------------------------------------------ what a user observes
    def installed(self) -> Dict[str, dict]:
        out = self.gg.list_installed_components(coreDeviceThingName=CORE, topologyFilter="ALL")
        return {c["componentName"]: c for c in out["installedComponents"]}

    def health(self) -> str:
        return self.gg.get_core_device(coreDeviceThingName=CORE)["status"]

    def work(self, name: str) -> Path:
        return self.root / "work" / name

    def lines(self, name: str, file: str = "out.log") -> List[str]:
        path = self.work(name) / file
        return path.read_text().splitlines() if path.exists() else []

    def wait_lines(self, name: str, count: int, file: str = "out.log", timeout: float = 20.0) -> List[str]:
        return e2e_gg.wait_for(lambda: (lambda ls: ls if len(ls) >= count else None)(self.lines(name, file)),
                               timeout, f"{count} line(s) in {name}'s {file}: {self.lines(name, file)}",
                               interval=0.1)

    def pid(self, name: str) -> int:
        return int((self.work(name) / "pid").read_text().split()[0])

    def log(self, name: str) -> str:
        path = self.root / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_state(self, name: str, state: str, timeout: float = 20.0) -> dict:
        return e2e_gg.wait_for(lambda: (lambda c: c if c and c["lifecycleState"] == state else None)(
            self.installed().get(name)), timeout, f"{name} {state} (now {self.installed().get(name)})", interval=0.2)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


RUN = "echo $$ > pid; echo run {tag} >> out.log; exec sleep 600"   # pid file = the process that keeps running
FAIL = "echo failing {tag} >> out.log; exit 3"


def run_step(tag: str) -> str:
    return RUN.format(tag=tag)


def failing(tag: str) -> dict:
    """A lifecycle whose Startup fails: the component never reaches RUNNING, so it is BROKEN after the nucleus'
    three tries whatever the machine's speed (a failing Run step is RUNNING for a moment first)."""
    return {"Startup": FAIL.format(tag=tag)}


def now() -> float:
    return time.time()


def my_uid() -> int:
    return os.getuid()
