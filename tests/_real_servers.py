"""
Real servers from Debian's packages for the operations tests: redis-server (with
a password and an ACL user), PostgreSQL (initdb in a temp dir, as an
unprivileged user when the tests run as root), Prometheus and Alertmanager.
Each listens on 127.0.0.1 on a free port; each is stopped by its fixture.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
import trio


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def program(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (./dev test installs {package})")
    return path


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    """Poll *condition* (a blocking fixture's wait, outside trio) until it holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    pytest.fail(f"{what} not reached within {seconds:g} s")


async def eventually(condition: Callable[[], bool], seconds: float = 10) -> None:
    """Poll *condition* on trio's clock: a real server gives no event to wait on."""
    with trio.fail_after(seconds):
        while not condition():  # noqa: ASYNC110 - the state is another process's
            await trio.sleep(0.02)


def stop(proc: subprocess.Popen[bytes], signal_: int | None = None) -> None:
    if proc.poll() is None:
        if signal_ is None:
            proc.terminate()
        else:
            proc.send_signal(signal_)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _redis_ping(port: int, auth: bytes) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
            conn.sendall(auth + b"PING\r\n")
            answer = b""
            while chunk := conn.recv(64):
                answer += chunk
                if b"PONG" in answer or b"-" in answer:
                    break
            return b"PONG" in answer
    except OSError:
        return False


@contextmanager
def redis_server(
    tmp: Path, *args: str, auth: bytes = b"", port: int | None = None
) -> Iterator[int]:
    """
    A redis-server with extra *args* (``--requirepass``...) on *port* (a free
    one by default: pass the same one to start it again there); yields its port.
    """
    port = free_port() if port is None else port
    proc = subprocess.Popen(
        [
            program("redis-server", "redis-server"),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _redis_ping(port, auth), "redis-server answering PING")
        yield port
    finally:
        stop(proc)


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed (./dev test installs postgresql)")
    return Path(found[-1]).parent


def _as_unprivileged() -> tuple[list[str], int | None, int | None]:
    """A command prefix that drops root (postgres refuses to run as root)."""
    if os.geteuid() != 0:
        return [], None, None
    nobody = pwd.getpwnam("nobody")
    prefix = [
        program("setpriv", "util-linux"),
        f"--reuid={nobody.pw_uid}",
        f"--regid={nobody.pw_gid}",
        "--clear-groups",
    ]
    return prefix, nobody.pw_uid, nobody.pw_gid


class Postgres:
    """A PostgreSQL server of its own: user ``app``, password *password*, db ``app``."""

    password = "pg-secret-7f3a"

    def __init__(self, port: int, socket_dir: Path) -> None:
        self.port = port
        self.socket_dir = socket_dir

    def dsn(self, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://app:{secret}@127.0.0.1:{self.port}/postgres"


def _run(argv: Sequence[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    if done.returncode:
        pytest.fail(f"{argv[0]} failed: {done.stderr.decode(errors='replace')[-500:]}")


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    """initdb in a temp dir, then ``postgres`` on a free loopback port."""
    bindir = _postgres_bin()
    prefix, uid, gid = _as_unprivileged()
    # Not pytest's tmp_path: its parents are root's own (mode 700), and the
    # server runs as nobody.
    root = Path(tempfile.mkdtemp(prefix="supervisor-pg-"))
    data, sockets, pwfile = root / "data", root / "sock", root / "pw"
    sockets.mkdir()
    pwfile.write_text(Postgres.password + "\n")
    if uid is not None and gid is not None:
        for path in (root, sockets, pwfile):
            os.chown(path, uid, gid)
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "TZ": "UTC"}
    port = free_port()
    proc: subprocess.Popen[bytes] | None = None
    try:
        _run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "app",
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--no-sync",
            ],
            env,
        )
        proc = subprocess.Popen(
            [
                *prefix,
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(sockets),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        ready = [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
        wait_until(
            lambda: subprocess.run(ready, check=False).returncode == 0,
            "PostgreSQL accepting connections",
        )
        yield Postgres(port, sockets)
    finally:
        if proc is not None:
            stop(proc, 2)  # SIGINT: PostgreSQL's "fast" shutdown
        shutil.rmtree(root, ignore_errors=True)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@contextmanager
def alertmanager_server(tmp: Path, config: Path) -> Iterator[str]:
    """Debian's Alertmanager with *config*, clustering off; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            program("prometheus-alertmanager", "prometheus-alertmanager"),
            f"--config.file={config}",
            f"--storage.path={tmp / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port on every interface
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _http_ok(f"{url}/-/ready"), "Alertmanager ready")
        yield url
    finally:
        stop(proc)


@contextmanager
def prometheus_server(tmp: Path, config: Path) -> Iterator[str]:
    """Debian's Prometheus with *config* and a TSDB in *tmp*; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            program("prometheus", "prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _http_ok(f"{url}/-/ready"), "Prometheus ready")
        yield url
    finally:
        stop(proc)
