"""Crash-to-restart latency of triotp's supervisor (peer side of the restart bench).

Standalone on purpose: triotp pins ``trio>=0.19,<0.20``, so this script runs under
its own virtual environment (``.bench-triotp``) and imports nothing from this
project. ``_peers.triotp_restarts`` runs it and reads the one JSON line it prints:
``{"latencies_ns": [...], "seconds": ..., "triotp": ..., "trio": ..., ...}``.

How triotp 0.2.1 restarts (``triotp/supervisor.py``): each child has a monitor task
that wraps a runner in ``tenacity.retry``. Every attempt opens a *new nursery* and
``start_soon``s the child in it; on failure tenacity calls triotp's restart-limit
check, then its logger (``after=``), then ``trio.sleep(0)`` (zero wait), then the
next attempt.

Fair configuration:

* Restart limit: triotp gives up once more than ``max_restarts`` failures fall
  within ``max_seconds``. We allow ``n`` plus a margin, so the limit never trips
  but its bookkeeping (a deque append and a length test per failure) still runs.
* Logging: triotp logs every restart at ERROR with the traceback through Logbook,
  and Logbook pushes a stderr handler at import. We bind a ``NullHandler``, as
  ``triotp.node.run(loglevel=LogLevel.NONE)`` does; ``--log`` binds a stderr
  handler instead (stdout carries the JSON).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version

import logbook
import trio
from triotp import supervisor

# Headroom over n: triotp also counts the last incarnation's cancellation.
_LIMIT_MARGIN = 16


class ChildCrashError(Exception):
    """The child's failure; only the supervisor sees it."""


@dataclass(slots=True)
class _Stamps:
    """Timestamps shared by the child's incarnations."""

    n: int
    scope: trio.CancelScope
    starts: list[int] = field(default_factory=list)
    crashes: list[int] = field(default_factory=list)


async def _child(stamps: _Stamps) -> None:
    """Raise at once; the (n+1)-th incarnation stops the run instead."""
    started = time.perf_counter_ns()  # first statement: a restart ends here
    stamps.starts.append(started)
    if len(stamps.starts) > stamps.n:
        stamps.scope.cancel()
        await trio.sleep_forever()  # Cancelled at once; triotp then unwinds
    stamps.crashes.append(time.perf_counter_ns())
    raise ChildCrashError


async def _measure(n: int) -> tuple[list[int], float]:
    """Supervise the child until ``n`` restarts; return latencies and wall time."""
    stamps = _Stamps(n=n, scope=trio.CancelScope())
    spec = supervisor.child_spec(
        id="crasher",
        task=_child,
        args=[stamps],
        restart=supervisor.restart_strategy.PERMANENT,
    )
    opts = supervisor.options(max_restarts=n + _LIMIT_MARGIN, max_seconds=5)
    begin = time.perf_counter_ns()
    with stamps.scope:
        await supervisor.start([spec], opts)
    pairs = zip(stamps.crashes, stamps.starts[1:], strict=True)
    latencies = [start - crash for crash, start in pairs]
    return latencies, (stamps.starts[-1] - begin) / 1e9


def _handler(log: bool) -> logbook.Handler:
    """What ``triotp.node.run`` would bind: silent unless asked."""
    return logbook.StderrHandler() if log else logbook.NullHandler()


def _versions() -> dict[str, str]:
    # tenacity and Logbook are on triotp's restart path; their versions matter.
    names = ("triotp", "tenacity", "logbook")
    found = {name.lower(): version(name) for name in names}
    return {**found, "trio": trio.__version__, "python": platform.python_version()}


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run once, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000, help="restarts to measure")
    parser.add_argument("--log", action="store_true", help="log every restart")
    args = parser.parse_args(argv)
    with _handler(args.log).applicationbound():
        latencies, seconds = trio.run(_measure, args.n)
    record = {"latencies_ns": latencies, "seconds": seconds, **_versions()}
    json.dump(record, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
