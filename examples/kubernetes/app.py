"""
The service the manifests in this directory run (deployment.yml):

    supervisor run app:tree --http 0.0.0.0:8080 --stop-timeout 20

* ``warmup`` loads what the others need (a cache, a model) and only then calls
  ``task_status.started()``: later siblings wait for it, /readyz answers 503
  until the whole initial start is done. It may take up to its
  ``start_timeout`` (15 s): the Deployment's startupProbe allows 20 s.
* ``consumer`` handles one message at a time, beating its heartbeat; on a stop
  it finishes the message in hand (``graceful_stop``) within ``shutdown``.
* ``reporter`` flushes figures now and then.

On SIGTERM (after the preStop pause) /readyz answers 503 at once, /livez stays
200, the children stop in reverse order, and the process exits 0 well within
``terminationGracePeriodSeconds`` (docs/production.md has the arithmetic).
``WARMUP_SECONDS`` and ``MESSAGE_SECONDS`` shorten or lengthen the stand-in work.
"""

from __future__ import annotations

import os

import structlog
import trio

from supervisor import Child, Supervisor, heartbeat, stop_requested

log = structlog.get_logger("app")

WARMUP_SECONDS = float(os.environ.get("WARMUP_SECONDS", "1"))
MESSAGE_SECONDS = float(os.environ.get("MESSAGE_SECONDS", "0.5"))


async def warmup(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    await trio.sleep(WARMUP_SECONDS)  # stands in for loading a cache
    log.info("warmed_up", seconds=WARMUP_SECONDS)
    task_status.started()
    await trio.sleep_forever()


async def consume() -> None:
    stopping = stop_requested()
    while not stopping.is_set():
        heartbeat()
        await trio.sleep(MESSAGE_SECONDS)  # stands in for one message
    log.info("consumer_drained")


async def report() -> None:
    while True:
        await trio.sleep(10)
        log.info("figures_flushed")


def tree() -> Supervisor:
    return Supervisor(
        name="app",
        children=[
            Child(name="warmup", target=warmup, start_timeout=15, shutdown=1),
            Child(
                name="consumer",
                target=consume,
                heartbeat_timeout=10,
                graceful_stop=True,
                shutdown=5,
            ),
            Child(name="reporter", target=report, shutdown=1),
        ],
    )
