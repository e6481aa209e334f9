"""
Start of N children in order: the tree's initial start next to its floor, a
sequential `nursery.start` of N tasks (each reporting started at once, as a
child that takes task_status does), sides interleaved, and the tree's stop.

    .venv/bin/python benchmarks/bench_start.py              # 10,000 and 40,000
    .venv/bin/python benchmarks/bench_start.py -n 100000 -r 3

Per size: the median microseconds per child of *r* rounds, for the floor's
start, the tree's start (until `open_tree` enters: every child counted as
started) and the tree's stop (reverse order). Linear means the per-child
figures stay flat as N grows. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import structlog
import trio

from supervisor import Child, Supervisor, open_tree


async def _idle(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()
    await trio.sleep_forever()


async def _floor(n: int) -> float:
    began = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(n):
            await nursery.start(_idle)
        took = time.perf_counter() - began
        nursery.cancel_scope.cancel()
    return took


async def _tree(n: int) -> tuple[float, float]:
    spec = Supervisor(
        name="root", children=[Child(name=f"c{i}", target=_idle) for i in range(n)]
    )
    began = time.perf_counter()
    async with open_tree(spec, loop_block_threshold=None):
        started = time.perf_counter()
    return started - began, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("-n", type=int, action="append", dest="sizes")
    parser.add_argument("-r", "--rounds", type=int, default=3)
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(40),
        cache_logger_on_first_use=False,
    )
    for n in args.sizes or [10_000, 40_000]:
        floor, start, stop = [], [], []
        for _ in range(args.rounds):
            gc.collect()
            floor.append(trio.run(_floor, n) / n * 1e6)
            gc.collect()
            a, b = trio.run(_tree, n)
            start.append(a / n * 1e6)
            stop.append(b / n * 1e6)
        f, s, t = (statistics.median(x) for x in (floor, start, stop))
        print(
            f"N={n:>7}  floor start {f:7.1f} us/child   tree start {s:7.1f} us/child"
            f" ({s / f:.2f}x floor)   tree stop {t:7.1f} us/child"
        )


if __name__ == "__main__":
    main()
