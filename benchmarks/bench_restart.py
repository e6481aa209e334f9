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
format_exc_info), and "log json": every event rendered by
``supervisor.logging.configure(format="json")``, the CLI's setup, its
exception as structured frames (``--log-format console``, repeatable, picks
other formats). triotp runs quiet and with its per-restart traceback logging
(into /dev/null). Erlang/OTP 25's supervisor (when ``erl`` is installed:
Debian's erlang-base) runs with its logger quiet, as OTP configures it by
default (every crash report and supervisor report formatted, at most 500
written a second) and with that burst limit off. Each of ours is compared with
the peer sides doing the same logging.
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
    otp_restarts,
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
        period=5,  # OTP's default; the OTP side uses it too
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


def measure(fn: Callable[[], Result | None]) -> Result | None:
    gc.collect()
    return fn()


FLOOR = "floor (trio start_soon)"
FILTERED = "supervisor, events filtered"
JSON = "supervisor, log json"
# (ours, peer): each of our sides next to the peer side doing the same logging.
PAIRS = (
    (FILTERED, "triotp (no logging)"),
    (FILTERED, "OTP 25 (logger quiet)"),
    ("supervisor, events rendered", "triotp (logging)"),
    (JSON, "triotp (logging)"),
    (JSON, "OTP 25 (default logger)"),
    (JSON, "OTP 25 (logger, no burst limit)"),
)


def row(s: Summary, floor: Summary) -> str:
    ratio = s["p50_us"] / floor["p50_us"]
    lo, hi = s["restarts_per_s_min_max"]
    return (
        f"{s['name']:<32} p50 {s['p50_us']:7.1f} us ({ratio:4.1f}x floor)  "
        f"p99 {s['p99_us']:7.1f} us  {s['restarts_per_s']:9.0f}/s ({lo:.0f}-{hi:.0f})"
    )


def markdown(summaries: dict[str, Summary]) -> str:
    """The table docs/benchmarks.md's generated section shows."""
    floor = summaries[FLOOR]
    lines = [
        "| side | p50 | p99 | restarts/s (min-max) |",
        "|---|---|---|---|",
    ]
    for s in summaries.values():
        lo, hi = s["restarts_per_s_min_max"]
        ratio = s["p50_us"] / floor["p50_us"]
        lines.append(
            f"| {s['name']} | {s['p50_us']:.1f} µs ({ratio:.1f}x floor) "
            f"| {s['p99_us']:.1f} µs | {s['restarts_per_s']:,.0f} ({lo:,.0f}-{hi:,.0f}) |"
        )
    lines.append("")
    lines.extend(f"* {line}" for line in comparisons(summaries))
    return "\n".join(lines)


def comparisons(summaries: dict[str, Summary]) -> list[str]:
    out = []
    for ours, peer in PAIRS:
        if ours in summaries and peer in summaries:
            a, b = summaries[ours], summaries[peer]
            ratio = a["restarts_per_s"] / b["restarts_per_s"]
            out.append(f"{ours}: {ratio:.2f}x {peer}'s restarts/s")
    return out


def build_sides(args: argparse.Namespace) -> dict[str, Callable[[], Result | None]]:
    n = args.n

    def ours(mode: str) -> Callable[[], Result]:
        def side() -> Result:
            configure_events(mode)
            return trio.run(supervisor_restarts, n)

        return side

    sides: dict[str, Callable[[], Result | None]] = {
        FLOOR: lambda: trio.run(floor_restarts, n),
        FILTERED: ours("filtered"),
        "supervisor, events rendered": ours("rendered"),
    }
    for fmt in args.log_format or ["json"]:
        sides[f"supervisor, log {fmt}"] = ours(fmt)
    if not args.no_triotp and ensure_triotp_venv() is not None:
        sides["triotp (no logging)"] = lambda: triotp_restarts(n)
        sides["triotp (logging)"] = lambda: triotp_restarts(n, log=True)
    if not args.no_otp and otp_restarts(2, logging="quiet") is not None:
        sides["OTP 25 (logger quiet)"] = lambda: otp_restarts(n, logging="quiet")
        sides["OTP 25 (default logger)"] = lambda: otp_restarts(n)
        sides["OTP 25 (logger, no burst limit)"] = lambda: otp_restarts(
            n, logging="unlimited"
        )
    return sides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("-n", type=int, default=20000, help="restarts per repetition")
    parser.add_argument("-r", type=int, default=5, help="repetitions (interleaved)")
    parser.add_argument("--no-triotp", action="store_true", help="skip triotp")
    parser.add_argument("--no-otp", action="store_true", help="skip Erlang/OTP")
    parser.add_argument(
        "--log-format",
        action="append",
        default=[],
        choices=["console", "json"],
        help="sides rendering every event through supervisor.logging.configure"
        "(format=...) (default: json)",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="PATH",
        help="also write the results as a markdown table to PATH (./dev bench)",
    )
    args = parser.parse_args()
    sides = build_sides(args)
    results: dict[str, list[Result]] = {name: [] for name in sides}
    for _ in range(args.r):
        for name, fn in sides.items():
            results[name].append(_must(name, measure(fn)))

    summaries = {name: summarise(name, rs) for name, rs in results.items()}
    floor = summaries[FLOOR]
    print(
        f"restart benchmark: {args.n} restarts x {args.r} repetitions, medians "
        f"(min-max); python {platform.python_version()}, trio {trio.__version__}, "
        f"structlog {structlog.__version__}, trio-supervisor {supervisor_version()}"
    )
    for s in summaries.values():
        print(row(s, floor))
    for name in ("triotp (no logging)", "OTP 25 (logger quiet)"):
        if name in summaries:
            print(f"{name} versions: {summaries[name]['versions']}")
    for line in comparisons(summaries):
        print(line)
    if args.markdown:
        args.markdown.write_text(markdown(summaries) + "\n")


def supervisor_version() -> str:
    return importlib.metadata.version("trio-supervisor")


def _must(name: str, result: Result | None) -> Result:
    if result is None:
        raise SystemExit(f"{name}: side failed")
    return result


if __name__ == "__main__":
    main()
