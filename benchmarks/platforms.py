"""What the benchmarks share to measure a platform: the seed group, extended with the benchmark's own
devices or functions, and the core configuration each platform's reader gives for it.

* **v1**: the group model as the V1 reader yields it (routes = the subscription table; any group device
  may connect, publish and subscribe; Lambda code from the bundle's folders plus the shared libraries).
* **v2**: the group converted as ``deploy.py deploy --platform v2`` converts it
  (``group.v2.convert.convert``), the Lambda recipes the import creates, and the V2 reader's pure part
  (``localcore.readers.v2.setup_from_deployment``): routes synthesised from the LegacySubscriptionRouter,
  Bridge and event sources, the ``clientdevices.Auth`` policy (``localcore.clientauth.policy_from_config``
  on the Auth component's configuration), Lambda code from the unzipped Lambda packages
  (``group.package.build_all``, as the cloud holds them). Only the cloud round trip is left out.

Used by the benchmarks only; not a test.
"""
from __future__ import annotations

import io
import statistics
import sys
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REGION, ACCOUNT = "us-east-1", "123456789012"
PLATFORMS = ("v1", "v2")
GOAL_RATIO = 0.90  # v2 within 10 % of v1 (throughput: v2/v1 ≥ 0.90)
GOAL_COLD_S = 15.0  # run --platform v2 --clean cold to ready


def platforms_of(choice: str) -> List[str]:
    """``--platform v1|v2|both`` → the platforms to measure."""
    if choice == "both":
        return list(PLATFORMS)
    if choice not in PLATFORMS:
        raise SystemExit(f"--platform must be v1, v2 or both, not {choice!r}")
    return [choice]


def add_platform_argument(parser) -> None:
    parser.add_argument("--platform", default="both", choices=("v1", "v2", "both"),
                        help="measure the core as configured by the V1 reader, the V2 reader, or both "
                             "side by side (default both)")


def seed_data() -> Dict[str, Any]:
    return yaml.safe_load((ROOT / "group" / "group.yaml").read_text(encoding="utf-8"))


def group_from(data: Mapping[str, Any], root: Path, file: Optional[Path] = None):
    """A validated ``group.model.Group`` from ``data`` (code paths relative to ``root``)."""
    from group.model import load

    file = file or (root / "group" / "bench-group.yaml")
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(yaml.safe_dump(dict(data), sort_keys=False), encoding="utf-8")
    group, _warnings = load(file, root=root)
    return group


def seed_plus(devices: Iterable[str] = (), subscriptions: Iterable[Mapping[str, str]] = (),
              functions: Iterable[Mapping[str, Any]] = (), *, root: Path, file: Path,
              only_functions: bool = False):
    """The seed group with the benchmark's devices, subscriptions and functions added.

    ``only_functions``: keep none of the seed's functions (and drop the subscriptions and streams naming
    them): the runtime benchmark measures its own echo Lambda, not the seed's producers."""
    data = seed_data()
    if only_functions:
        names = {f["name"] for f in data.get("functions") or []}
        data["functions"] = []
        data["subscriptions"] = [s for s in data.get("subscriptions") or []
                                 if s["source"] not in names and s["target"] not in names]
        data["streams"] = []
    data["devices"] = list(data.get("devices") or []) + [{"thing": t, "sync_shadow": False} for t in devices]
    data["subscriptions"] = list(data.get("subscriptions") or []) + [dict(s) for s in subscriptions]
    data["functions"] = list(data.get("functions") or []) + [dict(f) for f in functions]
    return group_from(data, root, file)


def unzip_packages(group, root: Path, dest: Path) -> Dict[str, Path]:
    """Each function's Lambda package (what deploy uploads and the V2 core downloads), unzipped."""
    from group.package import build_all

    out = {}
    for name, pkg in build_all(group, root).items():
        target = dest / name
        with zipfile.ZipFile(io.BytesIO(pkg.data)) as zf:
            zf.extractall(target)
        out[name] = target
    return out


def v2_setup(group, root: Path, code_dirs: Optional[Mapping[str, Path]] = None):
    """The ``CoreSetup`` a V2 core device reads from the group's V2 deployment (see the module docstring).

    ``code_dirs``: function name → unzipped package (default: placeholders, for routes and policy only)."""
    from group.v2.convert import convert
    from group.v2.lambda_recipe import recipe_for_lambda
    from localcore.readers.v2 import setup_from_deployment

    plan = convert(group, root=root, account_id=ACCOUNT, region=REGION)
    errors = [f for f in plan.findings if getattr(f, "severity", "") == "error"]
    if errors:
        raise RuntimeError(f"the converter refused the benchmark group: {errors}")
    recipes = {lc.component_name: recipe_for_lambda(lc.request, REGION, ACCOUNT, handler=lc.handler,
                                                     runtime=lc.runtime) for lc in plan.lambdas}
    recipes.update({gc.name: gc.recipe for gc in plan.generic})
    dirs = dict(code_dirs) if code_dirs is not None else \
        {f.name: root / "unused" / f.name for f in group.functions}
    deployment = dict(plan.deployment, deploymentId="bench")
    return setup_from_deployment(deployment, recipes, core_thing=group.core.thing, region=REGION,
                                 account=ACCOUNT, code_dirs=dirs, connectivity=list(plan.connectivity_info),
                                 base=group, client_devices=list(plan.client_devices))


def core_config(setup_or_group, root: Path, state_dir: Path):
    """A ``localcore.core.CoreConfig`` for ``function_specs``: a Group (V1) or a CoreSetup (V2)."""
    from localcore.core import CoreConfig
    from localcore.platform import CoreSetup

    if isinstance(setup_or_group, CoreSetup):
        group, profile = setup_or_group.group, setup_or_group.profile
    else:
        from localcore.platform import V1
        group, profile = setup_or_group, V1
    return CoreConfig(group=group, root=root, state_dir=state_dir, group_id="bench", region=REGION,
                      cloud_url=None, account=ACCOUNT, profile=profile)


def ratio_cell(v1: Optional[float], v2: Optional[float]) -> str:
    if not v1 or v2 is None:
        return "n/a"
    return f"{v2 / v1:.2f}"


def goal_text(ratios: Sequence[float], higher_is_better: bool = True) -> str:
    """'met' / 'not met (worst …)' for the v2-within-10 % goal over ``ratios`` (v2/v1)."""
    if not ratios:
        return "n/a (only one platform measured)"
    if higher_is_better:
        worst = min(ratios)
        ok = worst >= GOAL_RATIO
        return ("met" if ok else f"NOT met: worst v2/v1 {worst:.2f}, "
                f"{(1 - worst) * 100:.0f} % below v1") + f" (goal v2/v1 ≥ {GOAL_RATIO:.2f})"
    worst = max(ratios)
    ok = worst <= 2 - GOAL_RATIO
    verdict = "met" if ok else f"NOT met: worst v2/v1 {worst:.2f}, {(worst - 1) * 100:.0f} % slower than v1"
    return verdict + f" (goal v2/v1 ≤ {2 - GOAL_RATIO:.2f})"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
