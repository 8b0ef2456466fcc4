"""Configuration readers: a deployment → the one core's configuration (``localcore.platform.CoreSetup``).

``v2``: a Greengrass V2 core device's deployment (components + their configuration) read back from the
cloud as a core device does. Errors: ``errors.py``.
"""
