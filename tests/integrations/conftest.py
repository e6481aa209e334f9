"""
A real etcd for the integration tests: Debian's ``etcd-server``, started on
free loopback ports with a temporary data dir (it starts in under a second),
and stopped after the test, also when it fails. `EtcdServer.kill` and
`EtcdServer.start` stop and restart it mid-test on the same ports and data.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EtcdServer:
    """One etcd member on 127.0.0.1 (see the module doc)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.client_port = free_port()
        self.peer_port = free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / "etcd.log"

    def start(self, timeout: float = 15.0) -> None:
        """Start it (again) and wait until it answers; the same ports and data."""
        peer = f"http://127.0.0.1:{self.peer_port}"
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                "etcd",
                "--name=test",
                f"--data-dir={self.data_dir}",
                f"--listen-client-urls={self.url}",
                f"--advertise-client-urls={self.url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=test={peer}",
                "--listen-metrics-urls=",
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"etcd exited: see {self.log_path}")
            try:
                answer = httpx.get(f"{self.url}/health", timeout=1.0)
                if answer.status_code == 200 and answer.json().get("health") == "true":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(
            f"etcd did not answer within {timeout} s: see {self.log_path}"
        )

    def kill(self) -> None:
        """SIGKILL it and wait until it is gone (its data stays)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)
        self._process = None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._process = None

    def post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        """A blocking request for the tests' own reads (``/v3/...``)."""
        answer = httpx.post(f"{self.url}/v3/{path}", json=body, timeout=5.0)
        data: dict[str, object] = answer.json()
        return data


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    if shutil.which("etcd") is None:
        pytest.fail(
            "etcd is not installed: apt-get install etcd-server (./dev test does)"
        )
    server = EtcdServer(tmp_path / "etcd-data")
    server.start()
    try:
        yield server
    finally:
        server.stop()
