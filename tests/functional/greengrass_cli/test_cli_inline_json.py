"""greengrass-cli (the real client module, as a subprocess): ``--update-config`` given inline as a JSON string longer
than a file name may be (255 bytes) is read as JSON, as the real CLI reads it — the documentation's PrintSecret
merge is such a string."""
from __future__ import annotations

import json

CLI = "aws.greengrass.Cli"


async def test_a_long_inline_update_config_is_read_as_json(core):
    await core.ipc.configure({CLI: {}})
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:MyGreengrassSecret{}-abcdef"
    merge = {"cloudSecrets": [{"arn": secret.format(i)} for i in range(4)]}
    inline = json.dumps({"aws.greengrass.SecretManager": {"MERGE": merge}})
    assert len(inline.encode()) > 300
    code, out, err = await core.cli("deployment", "create", "--merge", "aws.greengrass.SecretManager=2.1.0",
                                    "--update-config", inline)
    assert code == 0, err
    deployment_id, request = core.local.next()
    assert deployment_id in out
    assert request.configuration == {"aws.greengrass.SecretManager": {"merge": merge}}
