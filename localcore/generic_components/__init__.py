"""Greengrass V2 generic components on the local core: deployments and the lifecycle as the nucleus runs them.

Pure rules (each names the nucleus class it follows):

* :mod:`.deployments` — which deployment the core processes next, what its other deployments add, how one ends,
  the core's health (``DeploymentService``, ``DefaultDeploymentTask``, ``FleetStatusService``);
* :mod:`.resolve` — component versions and dependencies (``DependencyResolver``, ``ComponentManager``);
* :mod:`.config` — a component's configuration across deployments (``KernelConfigResolver``);
* :mod:`.changes` — restart, reinstall or nothing (``GenericExternalService``, ``DeploymentConfigMerger``);
* :mod:`.interpolate` — recipe variables (``KernelConfigResolver``);
* :mod:`.lifecycle` — the state machine NEW → INSTALLED → STARTING → RUNNING → ... (``Lifecycle``).

Processes and files: :mod:`.service` (:class:`~.service.ComponentService`, the phases of a deployment for the
generic components), :mod:`.runner` (:class:`~.runner.ComponentRunner`, one component's steps as processes),
:mod:`.files` (artifacts and shims), :mod:`.tokens` (:class:`~.tokens.ComponentTokens`, the per-component SVCUID).
``localcore/run_v2.py`` drives a deployment through them.

Wiring (the core): one :class:`~.tokens.ComponentTokens` per core, passed to every runner and, as
``tokens.valid``, to ``StreamManagerServer.add_token_check``.
"""
