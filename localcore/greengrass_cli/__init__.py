"""``greengrass-cli`` on the local V2 core (``python deploy.py cli ...``, ``python -m localcore.greengrass_cli``):
the real CLI's commands over the core's nucleus IPC, with awsiotsdk's client and the token file the core writes
while ``aws.greengrass.Cli`` is deployed (:mod:`.client`). The core's side — local deployments, the component
store, GDK folders — is ``localcore/local_deployments``.
"""
