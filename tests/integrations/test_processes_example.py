"""
examples/processes.py under the real command line: a real redis-server (it
says READY=1 itself) and a notify script, stopped by SIGINT with nothing left.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._processes import no_leftover_processes

__all__ = ["no_leftover_processes"]  # the autouse fixture, imported to be used

ROOT = Path(__file__).resolve().parent.parent.parent

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="Debian's redis-server is needed"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(url: str) -> dict[str, Any] | None:
    try:
        return httpx.get(url, timeout=2).json()["tree"]  # type: ignore[no-any-return]
    except (httpx.HTTPError, ValueError):
        return None


def _nodes(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    todo = [status["root"]]
    while todo:
        node = todo.pop()
        found[node["path"]] = node
        todo.extend(node["children"])
    return found


def _ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(b"*1\r\n$4\r\nPING\r\n")
        return conn.recv(64)


def test_supervisor_run_examples_processes(tmp_path: Path) -> None:
    redis_port, http_port = _free_port(), _free_port()
    env = {**os.environ, "REDIS_PORT": str(redis_port), "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    log = (tmp_path / "log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "supervisor.cli._main",
            "run",
            "examples/processes.py:tree",
            "--http",
            f"127.0.0.1:{http_port}",
            "--show-details",
            "always",
            "--log-format",
            "json",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{http_port}/status"
    try:
        deadline = time.monotonic() + 30
        nodes: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            status = _status(url)
            if status is not None:
                nodes = _nodes(status)
                worker = nodes.get("processes/worker", {}).get("process") or {}
                if nodes.get("processes/reporter", {}).get(
                    "state"
                ) == "running" and "jobs done" in (worker.get("status") or ""):
                    break
            time.sleep(0.1)
        else:
            pytest.fail(
                f"not up: {nodes}; log: {(tmp_path / 'log').read_text()[-2000:]}"
            )
        redis = nodes["processes/cache/redis-server"]
        pong = _ping(redis_port)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:  # a failure above: still stop it in order
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()

    assert pong == b"+PONG\r\n"
    assert redis["kind"] == "process"
    assert redis["process"]["ready"]
    assert redis["process"]["status"] == "Ready to accept connections"
    text = (tmp_path / "log").read_text()
    assert '"process_output"' in text
    assert "redis-server" in text
