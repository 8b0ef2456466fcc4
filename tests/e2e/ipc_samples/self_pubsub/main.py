"""Entry point of the zipped component: subscribe to a topic, then publish a message on it ten times and exit
(GreengrassCoreIPCClientV2). Topic and message come from the command line (the recipe's configuration)."""
import sys
import threading

from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

from selfpubsub import loop


def main():
    topic, text = sys.argv[1], " ".join(sys.argv[2:])
    client = GreengrassCoreIPCClientV2()
    heard = threading.Semaphore(0)
    loop.listen(client, topic, heard)
    loop.send(client, topic, text, times=10)
    for _ in range(10):         # wait for our own ten (bounded), so the log is complete when the process ends
        if not heard.acquire(timeout=10):
            print("missing echoes", file=sys.stderr, flush=True)
            sys.exit(1)


if __name__ == "__main__":
    main()
