import os
import time


def function_handler(event, context):
    time.sleep(event.get('sleep', 0))
    return {'pid': os.getpid(), 'slept': event.get('sleep', 0)}
