"""
What a health probe costs the tree: the walk over the live tree that /livez,
/readyz and /healthz make (`Tree.observer.facts`) and the whole /healthz verdict
built from it, next to the full snapshot probes used to read (`Tree.snapshot`,
still what /status and /metrics read) and a /status document (a snapshot
turned into dicts and JSON, what a /status rebuild costs).

    .venv/bin/python benchmarks/bench_probe.py          # 1,000 and 10,000 children
    .venv/bin/python benchmarks/bench_probe.py -n 10 -n 1000 -r 50

Trees of supervisors with (up to) 100 workers each, every worker running. Per size:
the median and p90 of *r* calls of each, interleaved, and the walk's ratio to
the snapshot.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

import structlog
import trio

from supervisor import Child, HealthApp, Supervisor, open_tree


async def _idle() -> None:
    await trio.sleep_forever()


def _spec(children: int) -> Supervisor:
    per_group = min(children, 100)
    groups = [
        Supervisor(
            name=f"s{g}",
            children=[Child(name=f"w{w}", target=_idle) for w in range(per_group)],
        )
        for g in range(children // per_group)
    ]
    return Supervisor(name="root", children=groups)


def _time(fn: Callable[[], Any]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


async def _measure(children: int, repeats: int) -> None:
    async with open_tree(_spec(children), loop_block_threshold=None) as tree:
        app = HealthApp(tree)
        calls: dict[str, Callable[[], Any]] = {
            "probe_facts": lambda: tree.observer.facts(fresh=True),
            "healthz verdict": lambda: app._verdict(
                "healthz", tree.observer.facts(fresh=True)
            ),
            "snapshot": tree.snapshot,
            "status document": lambda: app._render_status(tree.snapshot(), True),
        }
        sides: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(repeats):
            for name, call in calls.items():
                sides[name].append(_time(call))
        medians = {}
        for name, times in sides.items():
            times.sort()
            medians[name] = statistics.median(times)
            p90 = times[int(len(times) * 0.9) - 1]
            print(
                f"{children:>6} children  {name:<16} "
                f"p50 {medians[name] * 1000:7.2f} ms  p90 {p90 * 1000:7.2f} ms"
            )
        ratio = medians["snapshot"] / medians["probe_facts"]
        print(f"{children:>6} children  a probe's walk is {ratio:.1f}x cheaper")
        tree.request_stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, action="append", help="children (repeatable)")
    parser.add_argument("-r", type=int, default=30, help="calls of each, per size")
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR)
    )
    for children in args.n or [1_000, 10_000]:
        trio.run(_measure, children, args.r)


if __name__ == "__main__":
    main()
