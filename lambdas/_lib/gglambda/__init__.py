"""Code shared by the group's Lambdas (``libraries: [lambdas/_lib]`` in ``group/group.yaml``).

The deployment puts this folder's contents at the root of each function's zip; the local runtime
puts it on the function's ``sys.path`` after the function's own code. Python 3.7, no import-time
side effects, imports only the standard library and ``greengrasssdk``.

* :mod:`gglambda.env`: environment parsing; ``ConfigError`` names the variable.
* :mod:`gglambda.streams`: stream manager client helpers and the reconnect-with-back-off loop.
* :mod:`gglambda.lifecycle`: the worker thread, start-once ``main()`` of pinned functions, the
  per-instance object of on-demand functions.
* :mod:`gglambda.publish`: what an ``iot-data`` publish raises.
"""
