"""A core in miniature for the kill -9 tests, run as its own process: ``python parent.py <state dir> <kind>...``.

It does what ``deploy.py run`` does about processes: ``processes.supervise(state dir)`` first, then children
started through the core's own code — a device script (``Children``), a generic component
(``ComponentRunner``), a pinned Lambda (``LambdaRuntime``), a cloud Lambda (``CloudFunctionRunner``); each
starts a ``sleep 300`` of its own (a grandchild of this process). Prints one JSON line once all are up, then
waits to be killed.
"""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
KINDS = ("device", "component", "lambda", "cloud")
DEVICE = ("import subprocess, time\n"
          "subprocess.Popen(['sleep', '300'])\n"
          "time.sleep(300)\n")
RECIPE = {
    "RecipeFormatVersion": "2020-01-25", "ComponentName": "com.example.Spawner", "ComponentVersion": "1.0.0",
    "Manifests": [{"Platform": {"os": "*"}, "Lifecycle": {"Run": "sleep 300 & exec sleep 301"}}],
}


async def main(state: Path, kinds: list[str]) -> None:
    from localcore import processes

    supervision = processes.supervise(state, grace_s=2.0)
    keep = []
    if "device" in kinds:
        from localcore.children import Children, ChildSpec

        children = Children(state / "logs" / "devices")
        await children.start(ChildSpec("device", [sys.executable, "-c", DEVICE], str(state)))
        keep.append(children)
    if "component" in kinds:
        from group.v2.recipe import parse_recipe
        from localcore.generic_components.runner import ComponentRunner
        from localcore.generic_components.tokens import ComponentTokens

        runner = ComponentRunner(parse_recipe(json.dumps(RECIPE)), root=state / "gg", tokens=ComponentTokens(),
                                 thing_name="Core", region="us-east-1")
        await runner.start()
        await runner.wait_for("RUNNING", timeout=30)
        keep.append(runner)
    if "lambda" in kinds:
        from localcore.interfaces import FunctionSpec
        from localcore.runtime import LambdaRuntime

        spec = FunctionSpec(name="spawner", code_dir=str(HERE / "code" / "lambda_spawner"),
                            handler="handler.function_handler", pinned=True,
                            arn="arn:aws:lambda:us-east-1:123456789012:function:spawner:live")
        runtime = LambdaRuntime([spec], None, None, state / "runtime", ipc_port=0)
        await runtime.start()
        keep.append(runtime)
    if "cloud" in kinds:
        from localcore.cloud_lambdas.runner import CloudFunctionRunner

        cloud = CloudFunctionRunner("spawner", HERE / "code" / "cloud_spawner", "handler.lambda_handler")
        await cloud.start()
        keep.append(cloud)
    print(json.dumps({"ready": True, "watchdog": supervision.watchdog_pid}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2:]))
