"""
The demo tree: flaky workers kept alive by a supervisor.

    supervisor run examples/demo.py:tree
    python examples/demo.py          # the same without the CLI

* ``config`` loads once and returns (TRANSIENT: a normal return is final);
* ``cache`` takes two seconds to warm up (it uses ``task_status``), and the
  workers after it wait for it, as with systemd's ``After=``;
* ``poller`` crashes now and then and is restarted with backoff;
* ``consumers`` is a nested supervisor (REST_FOR_ONE) with a connection and
  a consumer that depends on it: when the connection drops, the consumer is
  restarted after it.

Every start, crash and restart is logged. Ctrl-C stops the tree in reverse
start order; a second Ctrl-C forces.
"""

from __future__ import annotations

import contextlib
import random

import structlog
import trio

import supervisor.logging
from supervisor import Backoff, Child, Restart, Strategy, Supervisor, run

log = structlog.get_logger("demo")


async def load_config() -> None:
    await trio.sleep(0.2)
    log.info("config_loaded", keys=12)


async def warm_cache(
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    await trio.sleep(2)  # slow to start: later siblings wait for started()
    task_status.started()
    while True:
        await trio.sleep(5)
        log.info("cache_refreshed")


async def poll(source: str, crash_chance: float) -> None:
    while True:
        await trio.sleep(1)
        if random.random() < crash_chance:
            raise ConnectionError(f"{source} timed out")
        log.debug("polled", source=source)


async def connection() -> None:
    await trio.sleep(random.uniform(4, 12))
    raise ConnectionResetError("broker closed the connection")


async def consume() -> None:
    while True:
        await trio.sleep(2)
        log.debug("message_handled")


def tree() -> Supervisor:
    """The demo's spec (a function, so every run gets fresh dice)."""
    return Supervisor(
        name="demo",
        intensity=5,
        period=10,
        backoff=Backoff(initial=0.5, max=5),
        children=[
            Child(name="config", target=load_config, restart=Restart.TRANSIENT),
            Child(name="cache", target=warm_cache),
            Child(name="poller", target=poll, args=("prices", 0.25)),
            Supervisor(
                name="consumers",
                strategy=Strategy.REST_FOR_ONE,
                children=[
                    Child(name="connection", target=connection),
                    Child(name="consumer", target=consume),
                ],
            ),
        ],
    )


if __name__ == "__main__":
    # An application configures logging itself, once (the library never does):
    # console lines on a terminal, JSON lines otherwise.
    supervisor.logging.configure(format="auto", level="info")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stopped in order
        trio.run(run, tree())
