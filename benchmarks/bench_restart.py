"""
Crash -> restart latency and throughput: supervisor vs the raw-trio floor vs triotp.

A one-for-one child raises at once; zero backoff. Latency of one restart is the
time from a stamp taken just before ``raise`` to the first statement of the
next incarnation. Runs the sides interleaved (A B C A B C ...) and prints
medians with min-max; asserts nothing (see shared/BENCHMARKS.md).

    ./dev bench                       # or:
    .venv/bin/python benchmarks/bench_restart.py -n 20000 -r 5

Our side runs twice: with structlog configured but its level filtering the
restart events out ("events filtered"), and with every event rendered as a JSON
line into /dev/null ("events rendered", tracebacks formatted by structlog's
format_exc_info). triotp runs quiet and with its per-restart traceback logging
(into /dev/null); each of ours is compared with the matching triotp side.
``--log-format console`` (or ``json``, repeatable) adds a side rendering every
event through ``supervisor.logging.configure(format=...)``, the CLI's setup.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import structlog
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import (
    Result,
    Summary,
    ensure_triotp_venv,
    floor_restarts,
    summarise,
    triotp_restarts,
)

import supervisor.logging
from supervisor import Backoff, Child, Jitter, Supervisor, open_tree


def configure_events(mode: str) -> None:
    sink = Path(os.devnull).open("w")  # noqa: SIM115 - lives for the process
    if mode in ("console", "json"):
        supervisor.logging.configure(format=mode, stream=sink)  # type: ignore[arg-type]
    elif mode == "filtered":
        structlog.configure(
            processors=[structlog.processors.JSONRenderer()],
            wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
            logger_factory=structlog.WriteLoggerFactory(sink),
            cache_logger_on_first_use=False,  # modes switch within one process
        )
    else:
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            logger_factory=structlog.WriteLoggerFactory(sink),
            cache_logger_on_first_use=False,  # modes switch within one process
        )


async def supervisor_restarts(n: int) -> Result:
    """n restarts of a child that raises at once, under a one-for-one supervisor."""
    starts: list[int] = []
    crashes: list[int] = []
    done = trio.Event()

    async def child() -> None:
        starts.append(time.perf_counter_ns())  # first statement: a restart ends here
        if len(starts) > n:
            done.set()
            await trio.sleep_forever()
        crashes.append(time.perf_counter_ns())
        raise RuntimeError("boom")

    spec = Supervisor(
        name="bench",
        intensity=n + 1,
        period=3600,
        backoff=Backoff(initial=0, jitter=Jitter.NONE),
        children=[Child(name="c", target=child)],
    )
    begin = time.perf_counter_ns()
    async with open_tree(spec) as tree:
        await done.wait()
        end = starts[-1]
        await tree.stop()
    pairs = zip(crashes, starts[1:], strict=True)
    return Result(
        latencies_ns=[start - crash for crash, start in pairs],
        seconds=(end - begin) / 1e9,
        versions={"trio": trio.__version__},
    )


def measure(fn: Callable[[], Result]) -> Result:
    gc.collect()
    return fn()


def row(s: Summary, floor: Summary) -> str:
    ratio = s["p50_us"] / floor["p50_us"]
    lo, hi = s["restarts_per_s_min_max"]
    return (
        f"{s['name']:<28} p50 {s['p50_us']:7.1f} us ({ratio:4.1f}x floor)  "
        f"p99 {s['p99_us']:7.1f} us  {s['restarts_per_s']:9.0f}/s ({lo:.0f}-{hi:.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("-n", type=int, default=20000, help="restarts per repetition")
    parser.add_argument("-r", type=int, default=5, help="repetitions (interleaved)")
    parser.add_argument("--no-triotp", action="store_true", help="skip the peer")
    parser.add_argument(
        "--log-format",
        action="append",
        default=[],
        choices=["console", "json"],
        help="also time events rendered by supervisor.logging.configure(format=...)",
    )
    args = parser.parse_args()
    n = args.n
    has_triotp = not args.no_triotp and ensure_triotp_venv() is not None

    sides: dict[str, Callable[[], Result]] = {
        "floor (trio start_soon)": lambda: trio.run(floor_restarts, n),
        "supervisor, events filtered": lambda: (
            configure_events("filtered"),
            trio.run(supervisor_restarts, n),
        )[1],
        "supervisor, events rendered": lambda: (
            configure_events("rendered"),
            trio.run(supervisor_restarts, n),
        )[1],
    }
    for fmt in args.log_format:
        sides[f"supervisor, log {fmt}"] = lambda fmt=fmt: (
            configure_events(fmt),
            trio.run(supervisor_restarts, n),
        )[1]
    if has_triotp:
        sides["triotp (no logging)"] = lambda: _must(triotp_restarts(n))
        sides["triotp (logging)"] = lambda: _must(triotp_restarts(n, log=True))
    results: dict[str, list[Result]] = {name: [] for name in sides}
    for _ in range(args.r):
        for name, fn in sides.items():
            results[name].append(measure(fn))

    summaries = {name: summarise(name, rs) for name, rs in results.items()}
    floor = summaries["floor (trio start_soon)"]
    print(
        f"restart benchmark: {n} restarts x {args.r} repetitions, medians (min-max); "
        f"python {platform.python_version()}, trio {trio.__version__}, "
        f"structlog {structlog.__version__}, trio-supervisor {supervisor_version()}"
    )
    for s in summaries.values():
        print(row(s, floor))
    if has_triotp:
        tri = summaries["triotp (no logging)"]
        print(f"triotp versions: {tri['versions']}")
        pairs = (
            ("supervisor, events filtered", "triotp (no logging)"),
            ("supervisor, events rendered", "triotp (logging)"),
        )
        for name, peer in pairs:
            ours, theirs = summaries[name], summaries[peer]
            print(
                f"{name}: {ours['restarts_per_s'] / theirs['restarts_per_s']:.1f}x "
                f"{peer}'s throughput, p50 {ours['p50_us'] / floor['p50_us']:.1f}x the floor"
            )


def supervisor_version() -> str:
    return importlib.metadata.version("trio-supervisor")


def _must(result: Result | None) -> Result:
    if result is None:
        raise SystemExit("triotp side failed")
    return result


if __name__ == "__main__":
    main()
