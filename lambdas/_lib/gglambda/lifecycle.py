"""How the group's functions start their work (see ``lambdas/README.md``).

A pinned function's ``handler.py`` ends with::

    main = lifecycle.start_once(lambda: Producer(ProducerConfig.from_env(os.environ)))
    function_handler = lifecycle.status_handler(main)

    if os.environ.get("MY_FUNCTION_ARN"):   # set by the Greengrass runtime for every function
        main()

An on-demand function keeps its per-instance state in ``lifecycle.created_once(build)``.
Nothing here runs at import: no thread, client or file until ``main()`` is called.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Callable, Dict, Optional


class Worker(object):
    """A daemon thread running :meth:`_run` until :meth:`stop`; every wait in ``_run`` should use
    ``self._stop`` so that ``stop()`` ends it promptly. ``_last_error`` (for ``status()``) is what
    :meth:`_failed` last recorded, e.g. as ``on_error`` of :func:`gglambda.streams.run_until_stopped`."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._stop = threading.Event()
        self._thread = None  # type: Optional[threading.Thread]
        self._last_error = None  # type: Optional[str]

    def start(self) -> None:
        """Start the thread (once; later calls do nothing)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end and wait up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _failed(self, error: str) -> None:
        self._last_error = error

    def status(self) -> Dict[str, object]:
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError


def start_once(build: Callable[[], object]) -> Callable[[], object]:
    """A pinned function's idempotent ``main()``.

    The first call (under a lock, so a concurrent first invocation cannot start a second worker)
    configures logging from ``LOG_LEVEL`` (only if nothing else did), calls ``build()`` (which
    reads the environment; a ``ConfigError`` propagates and the next call tries again), starts the
    worker and registers its ``stop()`` with ``atexit``. Every call returns that worker.
    """
    lock = threading.Lock()
    started = []  # the worker, once built

    def main():
        with lock:
            if not started:
                logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
                worker = build()
                started.append(worker)
                worker.start()
                atexit.register(worker.stop)
            return started[0]

    main.__doc__ = "Start the worker once per process (idempotent) and return it."
    return main


def status_handler(main: Callable[[], object]) -> Callable[[object, object], Dict[str, object]]:
    """A pinned function's ``function_handler``: it takes no work from subscriptions; an
    invocation reports the worker's status (and starts the worker if the import did not)."""

    def function_handler(event, context):
        return main().status()

    return function_handler


def created_once(build: Callable[[], object]) -> Callable[[], object]:
    """An on-demand function's per-instance object: ``build()`` on the first call (under a lock,
    never at import), the same object on every later call."""
    lock = threading.Lock()
    made = []

    def get():
        with lock:
            if not made:
                made.append(build())
            return made[0]

    get.__doc__ = "The instance's object, created on first use (not at import)."
    return get


def next_due(previous_due: float, now: float, interval: float) -> float:
    """The next due time of a fixed-rate loop (no drift); restart from ``now`` when far behind.

    A loop that fell more than one interval behind (a stalled server) does not burst to catch up.
    """
    due = previous_due + interval
    if due < now - interval:
        return now
    return due
