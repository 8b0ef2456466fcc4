"""Reads one secret with the first-generation IPC client (GetSecretValueRequest) and prints its JSON value;
the secret's ARN comes from the command line (the recipe passes {configuration:/SecretArn}). Test data only."""
import json
import sys

import awsiot.greengrasscoreipc
from awsiot.greengrasscoreipc.model import GetSecretValueRequest, UnauthorizedError

if len(sys.argv) < 2 or not sys.argv[1]:
    print("no SecretArn configured", flush=True)
    sys.exit(1)
arn = sys.argv[1]
client = awsiot.greengrasscoreipc.connect()
operation = client.new_get_secret_value()
operation.activate(GetSecretValueRequest(secret_id=arn))
try:
    answer = operation.get_response().result(10)
except UnauthorizedError:
    print("not authorized to read %s" % arn, file=sys.stderr, flush=True)
    sys.exit(1)
value = json.loads(answer.secret_value.secret_string)
print("secret %s -> %s" % (answer.secret_id, json.dumps(value, sort_keys=True)), flush=True)
