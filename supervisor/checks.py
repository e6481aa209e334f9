"""
Built-in health checks, to pass to ``open_tree(spec, checks=[...])``::

    from supervisor import Check, Feeds, checks

    Check(name="redis", fn=checks.redis("127.0.0.1", 6379))
    Check(name="memory", fn=checks.memory(warn_bytes=2e9, fail_bytes=4e9), feeds=Feeds.INFO)

Any async callable that raises on failure is a check too; return an
`Observation` to report a measured value or a warning.
"""

from ._checks import (
    CheckFailed,
    Observation,
    http,
    memory,
    open_files,
    redis,
    tasks,
    tcp,
)

__all__ = [
    "CheckFailed",
    "Observation",
    "http",
    "memory",
    "open_files",
    "redis",
    "tasks",
    "tcp",
]
