"""
The HTTP surface: probes, status, metrics, the dashboard and control calls.

`HealthApp` is the ASGI app (mount it in your own server, or pass ``http=``
to `run` and the tree serves it with hypercorn as a service).
"""

from ._app import HealthApp

__all__ = ["HealthApp"]
