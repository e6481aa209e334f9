"""
A forced exit of ``supervisor run`` (a second SIGINT) leaves no `Process`
child's group running: each leads a session of its own, so ``os._exit``
alone would leave them all re-parented to PID 1 (to this test, the child
subreaper of the leftover check). A real ``supervisor run``, real signals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests._processes import no_leftover_processes

__all__ = ["no_leftover_processes"]  # the autouse fixture, imported to be used

SPEC = """
from supervisor import Process, Supervisor

tree = Supervisor(
    name="root",
    children=[
        Process(name="shell", argv=["sh", "-c", "sleep 1001 & sleep 1001 & wait"]),
        # Ignores SIGTERM (so do its children): the first SIGINT's stop waits for it.
        Process(
            name="stubborn",
            argv=["sh", "-c", "trap '' TERM; sleep 1002 & wait"],
            shutdown=60,
        ),
    ],
)
"""


def _sleeps() -> list[str]:
    """The ``sleep 100x`` processes among this test's descendants (orphans included)."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            line = process.cmdline()
        except psutil.Error:
            continue
        if line[:1] == ["sleep"] and line[1:] in (["1001"], ["1002"]):
            found.append(line[1])
    return sorted(found)


def _poll(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_a_second_sigint_kills_every_process_group(tmp_path: Path) -> None:
    spec = tmp_path / "forced.py"
    spec.write_text(SPEC)
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervisor.cli._main", "run", f"{spec}:tree"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=Path(__file__).parents[2],  # this checkout's package
    )
    try:
        assert _poll(lambda: _sleeps() == ["1001", "1001", "1002"], 20), _sleeps()
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)  # the stop is under way: "stubborn" holds it
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 130, err
    assert "forced_exit" in err
    assert _poll(lambda: _sleeps() == [], 5), _sleeps()
