"""Crash-to-restart latency of triotp's supervisor: the peer side of the restart benchmark.

Standalone on purpose: triotp pins ``trio>=0.19,<0.20``, so this script runs under its own
virtual environment (``.bench-triotp``) and must import nothing from this project.
``_peers.triotp_restarts`` runs it as a subprocess and reads the one JSON line it prints::

    {"latencies_ns": [...], "seconds": ..., "triotp": "...", "trio": "...", "python": "..."}

How triotp restarts (triotp 0.2.1, ``triotp/supervisor.py``): each child gets a monitor task
that wraps a runner in ``tenacity.retry``; every attempt opens a *new nursery*, ``start_soon``s
the child in it, and on failure tenacity calls triotp's restart-limit check, then its logger
(``after=``), then ``trio.sleep(0)`` (zero wait), then the next attempt.

Fair configuration:

* Restart limit: triotp gives up once more than ``max_restarts`` failures fall within
  ``max_seconds``. We allow ``n`` + a margin, so the limit never trips but its bookkeeping
  (a deque append and a length test per failure) still runs, as it would in production.
* Logging: triotp logs every restart at ERROR level with the traceback, through Logbook, and
  Logbook installs a stderr handler at import. We bind a ``NullHandler`` exactly as
  ``triotp.node.run(loglevel=LogLevel.NONE)`` does; ``--log`` binds a stderr handler instead
  (stdout carries the JSON).
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

# Headroom over n: triotp also counts the final incarnation's cancellation as a failure.
_LIMIT_MARGIN = 16


class Crash(Exception):
    """The child's failure; only the supervisor sees it."""


@dataclass(slots=True)
class _Stamps:
    """Per-incarnation timestamps shared between the child's incarnations."""

    n: int
    scope: trio.CancelScope
    starts: list[int] = field(default_factory=list)
    crashes: list[int] = field(default_factory=list)


async def _child(stamps: _Stamps) -> None:
    """Raise at once; the (n+1)-th incarnation stops the run instead."""
    started = time.perf_counter_ns()  # first statement: the end of the previous restart
    stamps.starts.append(started)
    if len(stamps.starts) > stamps.n:
        stamps.scope.cancel()
        await trio.sleep_forever()  # raises Cancelled at once; triotp then unwinds
    stamps.crashes.append(time.perf_counter_ns())
    raise Crash


async def _measure(n: int) -> tuple[list[int], float]:
    """Run the supervisor until ``n`` restarts happened; return latencies and wall time."""
    spec = supervisor.child_spec(
        id="crasher",
        task=_child,
        args=[],
        restart=supervisor.restart_strategy.PERMANENT,
    )
    opts = supervisor.options(max_restarts=n + _LIMIT_MARGIN, max_seconds=5)
    with trio.CancelScope() as scope:
        stamps = _Stamps(n=n, scope=scope)
        spec.args = [stamps]
        begin = time.perf_counter_ns()
        await supervisor.start([spec], opts)
    latencies = [nxt - crash for crash, nxt in zip(stamps.crashes, stamps.starts[1:], strict=True)]
    return latencies, (stamps.starts[-1] - begin) / 1e9


def _handler(log: bool) -> logbook.Handler:
    """What ``triotp.node.run`` would bind: silent unless asked, stderr when asked."""
    return logbook.StderrHandler() if log else logbook.NullHandler()


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run once, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000, help="restarts to measure")
    parser.add_argument("--log", action="store_true", help="let triotp log every restart")
    args = parser.parse_args(argv)
    with _handler(args.log).applicationbound():
        latencies, seconds = trio.run(_measure, args.n)
    versions = {
        "triotp": version("triotp"),
        "trio": trio.__version__,
        "python": platform.python_version(),
    }
    json.dump({"latencies_ns": latencies, "seconds": seconds, **versions}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
