"""The AWS public Greengrass V2 components this bundle deploys, pinned to exact versions as one set.

Why these versions (checked 2026-12 against the V2 Developer Guide, see ``SOURCES``):

* A deployment installs the **latest** version of a dependency that satisfies every range unless the
  deployment lists the component itself, so every public component is listed with an exact version
  (docs/protocols/v2-migration.md §10).
* The plugins that import V1 Lambdas pin the nucleus to a minor range: LambdaManager 2.3.7 requires
  ``aws.greengrass.Nucleus >=2.0.0 <2.17.0`` (2.3.6: ``<2.16.0``), LegacySubscriptionRouter 2.1.15 requires
  ``>=2.0.0 <2.17.0`` (2.1.14: ``<2.16.0``, the one we were first told). So the newest nucleus every plugin
  of the set accepts is the **2.16** line: ``2.16.1`` (2025-12-23). 2.17.x/2.18.x (2026) would need Lambda
  plugin releases AWS has not documented yet; re-check ``ListComponentVersions`` before moving the nucleus.
* LambdaLauncher 2.0.13 requires LambdaManager ``>=2.0.0 <2.4.0`` (HARD).
* Moquette 2.3.7 requires clientdevices.Auth ``>=2.2.0 <2.6.0`` (docs/protocols/v2-migration.md §1.1), so Auth
  stays on 2.5.x.
* ShadowManager 2.3.12 and LogManager 2.3.11 were released with nucleus 2.16.0 (document history,
  2025-11-06).
* StreamManager: 2.3.0 shipped with nucleus 2.17.0 (2026-04-16), so this set keeps the 2.2 line.

``verified`` says whether the exact version *and* its dependency ranges were read in AWS's docs; the
others are the newest patch we could find of the documented line, with the usual ``<3.0.0`` nucleus
range of plugins that do not pin a minor (unverified). The docs are not the last word: ``verified`` is what we
read, the target cloud is what a core device gets. ``deploy.py plan --platform v2`` compares every pin the group
needs with what the cloud publishes in the group's region (:mod:`group.v2.published`: ``ListComponentVersions``
and the pinned version's recipe from ``GetComponent``) — with ``--target aws``, AWS's own list — and ``deploy``
refuses a pin that is not published there or whose published recipe declares other dependency ranges than this
table; newer published versions are shown as info. The local greengrassv2 stand-in serves exactly this catalog
as the ``aws`` public components, so there the check passes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Dict, Mapping, Tuple

from . import versions

NUCLEUS = "aws.greengrass.Nucleus"
TOKEN_EXCHANGE = "aws.greengrass.TokenExchangeService"
LAMBDA_MANAGER = "aws.greengrass.LambdaManager"
LAMBDA_LAUNCHER = "aws.greengrass.LambdaLauncher"
LAMBDA_RUNTIMES = "aws.greengrass.LambdaRuntimes"
SUBSCRIPTION_ROUTER = "aws.greengrass.LegacySubscriptionRouter"
CLIENT_AUTH = "aws.greengrass.clientdevices.Auth"
MOQUETTE = "aws.greengrass.clientdevices.mqtt.Moquette"
BRIDGE = "aws.greengrass.clientdevices.mqtt.Bridge"
IP_DETECTOR = "aws.greengrass.clientdevices.IPDetector"
SHADOW_MANAGER = "aws.greengrass.ShadowManager"
STREAM_MANAGER = "aws.greengrass.StreamManager"
LOG_MANAGER = "aws.greengrass.LogManager"
DOCKER_MANAGER = "aws.greengrass.DockerApplicationManager"

GENERIC = "aws.greengrass.generic"
PLUGIN = "aws.greengrass.plugin"
NUCLEUS_TYPE = "aws.greengrass.nucleus"
LAMBDA_TYPE = "aws.greengrass.lambda"

PUBLIC_ACCOUNT = "aws"  # public components' ARNs carry the literal account "aws"


@dataclass(frozen=True)
class Dependency:
    version_requirement: str
    dependency_type: str = "HARD"  # HARD | SOFT

    def recipe(self) -> Dict[str, str]:
        return {"VersionRequirement": self.version_requirement, "DependencyType": self.dependency_type}


@dataclass(frozen=True)
class PublicComponentInfo:
    name: str
    version: str
    component_type: str
    dependencies: Mapping[str, Dependency] = field(default_factory=dict)
    verified: bool = False
    source: str = ""

    @property
    def caret(self) -> str:
        """``^major.minor.0`` of the pinned version: what our own recipes declare as requirement."""
        v = versions.parse_version(self.version)
        return f"^{v.major}.{v.minor}.0"

    def arn(self, region: str) -> str:
        return f"arn:aws:greengrass:{region}:{PUBLIC_ACCOUNT}:components:{self.name}:versions:{self.version}"


def _nucleus(rng: str) -> Dict[str, Dependency]:
    return {NUCLEUS: Dependency(rng, "SOFT")}


_DOCS = "https://docs.aws.amazon.com/greengrass/v2/developerguide/"
_CN = "https://docs.amazonaws.cn/greengrass/v2/developerguide/"

_ALL: Tuple[PublicComponentInfo, ...] = (
    PublicComponentInfo(NUCLEUS, "2.16.1", NUCLEUS_TYPE, {}, True,
                        _CN + "document-history.html (Core v2.16.1, 2025-12-23)"),
    PublicComponentInfo(TOKEN_EXCHANGE, "2.0.3", PLUGIN, _nucleus(">=2.0.0 <3.0.0"), False,
                        _DOCS + "token-exchange-service-component.html"),
    PublicComponentInfo(LAMBDA_MANAGER, "2.3.7", PLUGIN, _nucleus(">=2.0.0 <2.17.0"), True,
                        _CN + "lambda-manager-component.html (2.3.7: nucleus >=2.0.0 <2.17.0)"),
    PublicComponentInfo(LAMBDA_LAUNCHER, "2.0.13", GENERIC,
                        {LAMBDA_MANAGER: Dependency(">=2.0.0 <2.4.0", "HARD")}, True,
                        _CN + "lambda-launcher-component.html (2.0.11-2.0.13: LambdaManager >=2.0.0 <2.4.0)"),
    PublicComponentInfo(LAMBDA_RUNTIMES, "2.0.8", GENERIC, {}, False, _DOCS + "lambda-runtimes-component.html"),
    PublicComponentInfo(SUBSCRIPTION_ROUTER, "2.1.15", GENERIC, _nucleus(">=2.0.0 <2.17.0"), True,
                        _CN + "legacy-subscription-router-component.html (2.1.15: nucleus >=2.0.0 <2.17.0)"),
    PublicComponentInfo(CLIENT_AUTH, "2.5.4", PLUGIN, _nucleus(">=2.6.0 <3.0.0"), False,
                        _DOCS + "client-device-auth-component.html (line 2.5.x)"),
    PublicComponentInfo(MOQUETTE, "2.3.7", PLUGIN,
                        {CLIENT_AUTH: Dependency(">=2.2.0 <2.6.0", "HARD"), **_nucleus(">=2.2.0 <3.0.0")}, False,
                        _DOCS + "mqtt-broker-moquette-component.html (2.3.7: Auth >=2.2.0 <2.6.0)"),
    PublicComponentInfo(BRIDGE, "2.3.2", PLUGIN, _nucleus(">=2.6.0 <3.0.0"), False,
                        _DOCS + "mqtt-bridge-component.html (line 2.3.x)"),
    PublicComponentInfo(IP_DETECTOR, "2.2.3", PLUGIN, _nucleus(">=2.2.0 <3.0.0"), False,
                        _DOCS + "ip-detector-component.html (line 2.2.x)"),
    PublicComponentInfo(SHADOW_MANAGER, "2.3.12", PLUGIN, _nucleus(">=2.6.0 <3.0.0"), False,
                        _CN + "document-history.html (Shadow Manager v2.3.12, 2025-11-06)"),
    PublicComponentInfo(STREAM_MANAGER, "2.2.1", GENERIC,
                        {TOKEN_EXCHANGE: Dependency(">=2.0.0 <3.0.0", "HARD"), **_nucleus(">=2.0.0 <3.0.0")},
                        False, _DOCS + "stream-manager-component.html (line 2.2.x)"),
    PublicComponentInfo(LOG_MANAGER, "2.3.11", PLUGIN, _nucleus(">=2.0.0 <3.0.0"), False,
                        _CN + "document-history.html (Log Manager v2.3.11, 2025-11-06)"),
    PublicComponentInfo(DOCKER_MANAGER, "2.0.14", GENERIC,
                        {TOKEN_EXCHANGE: Dependency(">=2.0.0 <3.0.0", "SOFT")}, False,
                        _DOCS + "docker-application-manager-component.html (line 2.0.x)"),
)

PUBLIC_COMPONENTS: Mapping[str, PublicComponentInfo] = MappingProxyType({c.name: c for c in _ALL})

SOURCES = (
    _CN + "lambda-manager-component.html",
    _CN + "lambda-launcher-component.html",
    _CN + "legacy-subscription-router-component.html",
    _CN + "document-history.html",
)


def info(name: str) -> PublicComponentInfo:
    try:
        return PUBLIC_COMPONENTS[name]
    except KeyError:
        raise KeyError(f"{name} is not in the public component catalog (group/v2/catalog.py)") from None


def version(name: str) -> str:
    return info(name).version


def satisfies(version_text: str, requirement: str) -> bool:
    """Whether ``version_text`` meets the npm-style ``requirement`` (the rule of :mod:`group.v2.versions`)."""
    return versions.satisfies(version_text, requirement)


def inconsistencies() -> Tuple[str, ...]:
    """Every dependency range of the catalog that the pinned version of the dependency misses (empty = one set)."""
    out = []
    for c in _ALL:
        for dep, req in c.dependencies.items():
            if dep in PUBLIC_COMPONENTS and not satisfies(PUBLIC_COMPONENTS[dep].version, req.version_requirement):
                out.append(f"{c.name} {c.version} needs {dep} {req.version_requirement}, "
                           f"catalog pins {PUBLIC_COMPONENTS[dep].version}")
    return tuple(out)
