"""Greengrass V2 generic components on the local core: the lifecycle as the nucleus runs it.

* :mod:`.interpolate` — recipe variables (``{artifacts:path}``, ``{configuration:/ptr}``, ...) — pure.
* :mod:`.config` — DefaultConfiguration + a deployment's ``configurationUpdate`` (reset, then merge) — pure.
* :mod:`.lifecycle` — the nucleus' state machine (NEW → INSTALLED → STARTING → RUNNING → ...) — pure.
* :mod:`.runner` — :class:`~.runner.ComponentRunner` runs one component's lifecycle steps as processes.
* :mod:`.tokens` — :class:`~.tokens.ComponentTokens`, the per-component SVCUID secrets (stream manager auth).

Wiring (the core): one :class:`~.tokens.ComponentTokens` per core, passed to every runner and, as
``tokens.valid``, to ``StreamManagerServer.add_token_check``.
"""
