"""Floor and peer sides of the restart benchmark: raw trio, and triotp.

Measured for a one-for-one child that raises at once, with zero backoff:

* latency of one restart: from a ``perf_counter_ns()`` stamp taken in the child
  just before ``raise`` to the stamp taken as the first statement of the child's
  next incarnation;
* throughput: restarts / wall time of the whole batch (from just before the first
  incarnation is spawned to the first statement of the last one).

``floor_restarts`` is the floor: a bare trio respawn loop doing the least a
supervisor must do. ``triotp_restarts`` runs the peer in its own virtual
environment (triotp pins trio<0.20) through ``_triotp_restart.py``;
``otp_restarts`` runs Erlang/OTP's supervisor (``_otp_restart.erl``, compiled
with ``erlc`` on first use; Debian's ``erlang-base``) when ``erl`` is installed.
``summarise`` turns repetitions into medians with min-max. Nothing here asserts
a time: see /work/shared/BENCHMARKS.md for the method.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TypedDict

import trio

HERE = pathlib.Path(__file__).resolve().parent
TRIOTP_VENV = HERE.parent / ".bench-triotp"
TRIOTP_SCRIPT = HERE / "_triotp_restart.py"


@dataclass(frozen=True, slots=True)
class Result:
    """One batch of restarts: latencies, wall time, and what it ran on."""

    latencies_ns: list[int]
    seconds: float
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def restarts(self) -> int:
        """Number of restarts in the batch."""
        return len(self.latencies_ns)

    @property
    def per_second(self) -> float:
        """Restarts per second over the whole batch."""
        return self.restarts / self.seconds


# --- floor: raw trio --------------------------------------------------------------


class ChildCrashError(Exception):
    """The child's failure; only the keeper (a stand-in supervisor) sees it."""


@dataclass(slots=True)
class _Stamps:
    """Timestamps shared by the child's incarnations."""

    n: int
    starts: list[int] = field(default_factory=list)
    crashes: list[int] = field(default_factory=list)


async def _crasher(stamps: _Stamps) -> None:
    """Raise at once, catching nothing; the (n+1)-th incarnation returns."""
    started = time.perf_counter_ns()  # first statement: a restart ends here
    stamps.starts.append(started)
    if len(stamps.starts) > stamps.n:
        return
    stamps.crashes.append(time.perf_counter_ns())
    raise ChildCrashError


async def _keeper(
    nursery: trio.Nursery,
    stamps: _Stamps,
    checkpoint: Callable[[], Awaitable[None]],
) -> None:
    """Run one incarnation; if it crashed, respawn it with ``start_soon``."""
    try:
        await _crasher(stamps)
    except Exception:  # like a supervisor: any Exception is a crash to restart
        pass
    else:
        return  # a normal return ends the batch
    # Checkpoint before start_soon: the child raises before any checkpoint of its
    # own, so without this a cancelled nursery would respawn it forever.
    await checkpoint()
    nursery.start_soon(_keeper, nursery, stamps, checkpoint)


async def floor_restarts(n: int, *, full_checkpoint: bool = False) -> Result:
    """Measure ``n`` restarts of a task respawned with ``nursery.start_soon``.

    The per-restart checkpoint is ``checkpoint_if_cancelled`` by default: it makes
    the loop cancellable, and the respawn already goes through trio's run queue,
    so other tasks get their turn without an extra yield. ``full_checkpoint=True``
    uses ``trio.lowlevel.checkpoint`` instead (cancel point and schedule point:
    one more scheduler pass per restart).
    """
    lowlevel = trio.lowlevel
    checkpoint = (
        lowlevel.checkpoint if full_checkpoint else lowlevel.checkpoint_if_cancelled
    )
    stamps = _Stamps(n=n)
    begin = time.perf_counter_ns()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_keeper, nursery, stamps, checkpoint)
    pairs = zip(stamps.crashes, stamps.starts[1:], strict=True)
    return Result(
        latencies_ns=[start - crash for crash, start in pairs],
        seconds=(stamps.starts[-1] - begin) / 1e9,
        versions={"trio": trio.__version__, "python": platform.python_version()},
    )


# --- peer: triotp, in its own virtual environment ---------------------------------


def _triotp_python() -> pathlib.Path:
    return TRIOTP_VENV / "bin" / "python"


def _imports_triotp(python: pathlib.Path) -> bool:
    if not python.exists():
        return False
    probe = [str(python), "-I", "-c", "import triotp"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


# The versions docs/benchmarks.md quotes (what `pip install triotp` chose in 2026-11).
TRIOTP_REQUIREMENTS = (
    "triotp==0.2.1",
    "tenacity==8.5.0",
    "logbook==1.10.1",
    "trio==0.19.0",
)


def ensure_triotp_venv(
    requirements: Sequence[str] = TRIOTP_REQUIREMENTS,
) -> pathlib.Path | None:
    """Return ``.bench-triotp``'s python, creating the venv and installing triotp.

    ``requirements`` go to pip only when triotp does not import yet; e.g. pass
    ``("triotp", "tenacity==8.2.3")`` to a fresh venv to pin the retry library.
    Returns None, with a message on stderr, if the venv cannot be set up.
    """
    python = _triotp_python()
    if _imports_triotp(python):
        return python
    try:
        if not python.exists():
            venv = [sys.executable, "-m", "venv", str(TRIOTP_VENV)]
            subprocess.run(venv, check=True)
        pip = [str(python), "-m", "pip", "install", *requirements]
        subprocess.run(pip, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"could not set up {TRIOTP_VENV}: {exc}", file=sys.stderr)
        return None
    return python


def _clean_env() -> dict[str, str]:
    # The project's PYTHONPATH must not leak trio 0.35 into triotp's interpreter.
    dropped = {"PYTHONPATH", "PYTHONHOME"}
    return {k: v for k, v in os.environ.items() if k not in dropped}


def triotp_restarts(n: int, *, log: bool = False) -> Result | None:
    """Measure ``n`` restarts under triotp's supervisor, in a subprocess.

    Returns None, with a message on stderr, if ``.bench-triotp`` does not exist.
    ``log=True`` lets triotp log every restart (output discarded, cost measured).
    """
    python = _triotp_python()
    if not python.exists():
        print(f"triotp skipped: no {python} (ensure_triotp_venv)", file=sys.stderr)
        return None
    cmd = [str(python), str(TRIOTP_SCRIPT), "-n", str(n)]
    if log:
        cmd.append("--log")
    # With --log the child writes a traceback per restart: discard, don't buffer.
    stderr = subprocess.DEVNULL if log else subprocess.PIPE
    proc = subprocess.run(
        cmd,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=_clean_env(),
        check=False,
    )
    if proc.returncode != 0:
        detail = proc.stderr or "(stderr discarded: rerun without log)"
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{detail}")
    data = json.loads(proc.stdout.splitlines()[-1])
    latencies = data.pop("latencies_ns")
    seconds = data.pop("seconds")
    return Result(latencies_ns=latencies, seconds=seconds, versions=data)


# --- peer: Erlang/OTP's supervisor -------------------------------------------------

OTP_SOURCE = HERE / "_otp_restart.erl"
#: How the OTP side logs: see _otp_restart.erl.
OTP_LOGGING = ("default", "unlimited", "quiet")


@cache
def _otp_build() -> pathlib.Path | None:
    """Compile _otp_restart.erl once per process into a temporary directory."""
    erl, erlc = shutil.which("erl"), shutil.which("erlc")
    if erl is None or erlc is None:
        print(
            "OTP skipped: no erl/erlc (Debian: apt-get install erlang-base)",
            file=sys.stderr,
        )
        return None
    out = pathlib.Path(tempfile.mkdtemp(prefix="bench-otp-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    subprocess.run([erlc, "-o", str(out), str(OTP_SOURCE)], check=True)
    return out


def otp_restarts(n: int, *, logging: str = "default") -> Result | None:
    """Measure ``n`` restarts under OTP's one_for_one supervisor, in ``erl``.

    Returns None (with a note on stderr) when Erlang is not installed. The
    logger's output goes to /dev/null; its formatting cost is measured.
    """
    if logging not in OTP_LOGGING:
        raise ValueError(f"logging must be one of {OTP_LOGGING}, got {logging!r}")
    build = _otp_build()
    if build is None:
        return None
    result = build / f"result-{logging}.json"
    cmd = ["erl", "-noshell", "-pa", str(build)]
    cmd += ["-run", "_otp_restart", "main", str(n), logging, str(result)]
    subprocess.run(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
    )
    data = json.loads(result.read_text())
    result.unlink()
    latencies = data.pop("latencies_ns")
    seconds = data.pop("seconds")
    return Result(latencies_ns=latencies, seconds=seconds, versions=data)


# --- summary ----------------------------------------------------------------------


def _percentile(ordered: Sequence[int], q: float) -> int:
    """Nearest-rank percentile: always a value that actually occurred."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


class Summary(TypedDict):
    """Medians across repetitions, each with its (min, max)."""

    name: str
    repetitions: int
    restarts: int
    p50_us: float
    p50_us_min_max: tuple[float, float]
    p99_us: float
    p99_us_min_max: tuple[float, float]
    restarts_per_s: float
    restarts_per_s_min_max: tuple[float, float]
    versions: dict[str, str]


def _spread(values: Sequence[float]) -> tuple[float, tuple[float, float]]:
    return statistics.median(values), (min(values), max(values))


def summarise(name: str, results: Sequence[Result]) -> Summary:
    """Across repetitions: median (and min-max) p50 and p99 in µs, restarts/s."""
    if not results:
        raise ValueError(f"{name}: no results to summarise")
    p50: list[float] = []
    p99: list[float] = []
    for result in results:
        ordered = sorted(result.latencies_ns)
        p50.append(_percentile(ordered, 0.50) / 1e3)
        p99.append(_percentile(ordered, 0.99) / 1e3)
    p50_median, p50_range = _spread(p50)
    p99_median, p99_range = _spread(p99)
    rate_median, rate_range = _spread([r.per_second for r in results])
    return {
        "name": name,
        "repetitions": len(results),
        "restarts": results[0].restarts,
        "p50_us": p50_median,
        "p50_us_min_max": p50_range,
        "p99_us": p99_median,
        "p99_us_min_max": p99_range,
        "restarts_per_s": rate_median,
        "restarts_per_s_min_max": rate_range,
        "versions": results[0].versions,
    }
