"""
Process children: the restart latency of a `Process` next to its floor, and
the cost of the notify parser per message.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_process.py
    PYTHONPATH=. .venv/bin/python benchmarks/bench_process.py -n 500 -r 5

* restart: a PERMANENT ``Process(argv=["true"])`` with no backoff exits at
  once and is restarted, *n* times; the figure is milliseconds per restart
  (spawn, wait, its group checked, the exit handled, the next spawn). The
  floor is ``trio.run_process(["true"])`` in a loop: the spawn and wait alone.
  Sides are interleaved, medians of *r* rounds.
* notify: microseconds per ``parse_notification`` of typical datagrams.

Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit

import structlog
import trio

from supervisor import Backoff, Jitter, Process, Supervisor, open_tree
from supervisor._policy.notify import parse_notification

MESSAGES = {
    "WATCHDOG=1": b"WATCHDOG=1",
    "READY=1 + STATUS": b"READY=1\nSTATUS=Ready to accept connections",
    "five assignments": (
        b"STATUS=serving 42 clients\nWATCHDOG=1\nEXTEND_TIMEOUT_USEC=5000000\n"
        b"ERRNO=0\nMAINPID=4242"
    ),
    "garbage": b"this is not an assignment at all",
}


async def _floor(n: int) -> float:
    began = time.perf_counter()
    for _ in range(n):
        await trio.run_process(["true"])
    return (time.perf_counter() - began) / n


async def _tree(n: int) -> float:
    spec = Supervisor(
        name="root",
        intensity=n * 10,
        period=3600,
        backoff=Backoff(initial=0, max=0, jitter=Jitter.NONE),
        children=[Process(name="p", argv=["true"])],
    )
    async with open_tree(spec, loop_block_threshold=None) as tree:
        began = time.perf_counter()
        first = tree.snapshot().node("root/p").starts
        while tree.snapshot().node("root/p").starts < first + n:  # noqa: ASYNC110
            await trio.sleep(0.001)
        took = time.perf_counter() - began
    return took / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("-n", type=int, default=300, help="restarts per round")
    parser.add_argument("-r", "--rounds", type=int, default=3)
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(40),
        cache_logger_on_first_use=False,
    )
    floors, trees = [], []
    for _ in range(args.rounds):
        floors.append(trio.run(_floor, args.n))
        trees.append(trio.run(_tree, args.n))
    floor, tree = statistics.median(floors), statistics.median(trees)
    print(f"restart of a Process (n={args.n}, median of {args.rounds})")
    print(f"  floor trio.run_process loop  {floor * 1e3:7.3f} ms per spawn")
    print(f"  Process restart              {tree * 1e3:7.3f} ms per restart")
    print(f"  ratio                        {tree / floor:7.2f}x")
    print("notify parser")
    for name, data in MESSAGES.items():
        number = 100_000
        seconds = min(
            timeit.repeat(lambda d=data: parse_notification(d), number=number, repeat=5)
        )
        print(f"  {name:<20} {seconds / number * 1e6:6.2f} us per message")


if __name__ == "__main__":
    main()
