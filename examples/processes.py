"""
OS processes as children: a real ``redis-server`` and a program written for
systemd, in the same tree as ordinary trio workers.

    supervisor run examples/processes.py:tree
    python examples/processes.py          # the same, with a Redis check over HTTP

* ``cache`` (ONE_FOR_ALL) runs ``redis-server`` in a process group of its own
  (``--supervised systemd``: Redis itself says ``READY=1`` on the notify
  socket the tree gives it) and ``redis-ping``, a trio worker that PINGs it
  every second with the built-in Redis check: three failed PINGs in a row
  and both are restarted.
* ``worker`` is ``notify_worker.py``: it counts as started at its ``READY=1``,
  beats with ``WATCHDOG=1`` (a missed beat restarts it) and shows its
  ``STATUS=`` in ``/status`` and on the dashboard.
* ``reporter`` starts only once both are up (start order, as systemd's
  ``After=``).

Their output lines are ``process_output`` events; a stop sends SIGTERM to
each process group, SIGKILL after ``shutdown``. The Redis port is
``REDIS_PORT`` (default 6390).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import structlog
import trio

import supervisor.logging
from supervisor import Check, Child, Process, Strategy, Supervisor, checks, run

HERE = Path(__file__).resolve().parent
log = structlog.get_logger("processes")


def redis_port() -> int:
    return int(os.environ.get("REDIS_PORT", "6390"))


async def ping_redis(port: int) -> None:
    """Crash after three failed PINGs in a row: ONE_FOR_ALL restarts Redis too."""
    ping = checks.redis("127.0.0.1", port)
    failures = 0
    while True:
        await trio.sleep(1)
        try:
            await ping()
        except (OSError, checks.CheckFailed) as exc:
            failures += 1
            log.warning("redis_ping_failed", failures=failures, error=str(exc))
            if failures >= 3:
                raise
        else:
            failures = 0


async def report() -> None:
    while True:
        await trio.sleep(10)
        log.info("all_up")


def tree() -> Supervisor:
    port = redis_port()
    redis = Process(
        name="redis-server",
        argv=[
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--supervised",
            "systemd",
        ],
        notify=True,
        start_timeout=10,
        shutdown=5,
    )
    return Supervisor(
        name="processes",
        children=[
            Supervisor(
                name="cache",
                strategy=Strategy.ONE_FOR_ALL,
                children=[
                    redis,
                    Child(name="redis-ping", target=ping_redis, args=(port,)),
                ],
            ),
            Process(
                name="worker",
                argv=[sys.executable, str(HERE / "notify_worker.py")],
                notify=True,
                heartbeat_timeout=4,
                start_timeout=10,
            ),
            Child(name="reporter", target=report),
        ],
    )


if __name__ == "__main__":
    supervisor.logging.configure(format="auto", level="info")
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(
            lambda: run(
                tree(),
                http="127.0.0.1:8081",
                checks=[
                    Check(name="redis", fn=checks.redis("127.0.0.1", redis_port()))
                ],
            )
        )
