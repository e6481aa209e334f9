"""
Shutdown of a real ``supervisor run`` process in a fleet: on SIGTERM or SIGINT
the instance's key is gone before its first child begins to stop (the child
asks etcd, `shutdown_app`), and with etcd down the stop is bounded.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integrations.conftest import EtcdServer, free_port

APP = Path(__file__).resolve().parent / "shutdown_app.py"
KEY = "/services/api/a"


def start(etcd: EtcdServer, tmp: Path, ttl: int = 10) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SHUTDOWN_ETCD": etcd.url,
        "SHUTDOWN_KEY": KEY,
        "SHUTDOWN_LOG": str(tmp / "seen.log"),
    }
    with (tmp / "err.log").open("wb") as err:
        return subprocess.Popen(
        [
            sys.executable, "-m", "supervisor.cli", "run", f"{APP}:tree",
            "--log-format", "json", "--http", f"127.0.0.1:{free_port()}",
            "--etcd", etcd.url, "--service", "api", "--instance", "a",
            "--etcd-ttl", str(ttl),
        ],
        stdout=subprocess.DEVNULL,
        stderr=err,
        env=env,
    )  # fmt: skip


def key_present(etcd: EtcdServer) -> bool:
    body = {"key": base64.b64encode(KEY.encode()).decode()}
    return bool(etcd.post("kv/range", body).get("kvs"))


def wait_for(check: object, limit: float) -> float:
    began = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - began > limit:
            raise AssertionError(f"not within {limit} s")
        time.sleep(0.05)
    return time.monotonic() - began


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_deregisters_before_the_children_stop(
    etcd: EtcdServer, tmp_path: Path, signum: signal.Signals
) -> None:
    process = start(etcd, tmp_path)
    try:
        wait_for(lambda: key_present(etcd), 20)
        process.send_signal(signum)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert (tmp_path / "seen.log").read_text() == "absent\n"
    assert not key_present(etcd)


def test_a_stop_with_etcd_down_is_bounded(etcd: EtcdServer, tmp_path: Path) -> None:
    ttl = 3
    process = start(etcd, tmp_path, ttl=ttl)
    try:
        wait_for(lambda: key_present(etcd), 20)
        etcd.kill()
        process.send_signal(signal.SIGTERM)
        began = time.monotonic()
        assert process.wait(30) == 0
        took = time.monotonic() - began
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    # The leave waits at most its timeout (2 s) and the TTL; never a hang.
    print(f"stop with etcd down: {took:.2f} s")
    assert took < 2 + ttl + 5
    assert (tmp_path / "seen.log").read_text().startswith("etcd-unreachable")
