"""
The `supervisor` command: spec loading, exit codes, and signals (real processes).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from supervisor import HttpOptions, ShowDetails
from supervisor.cli import _main as _cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

TREE = textwrap.dedent(
    """
    import os
    import trio
    from supervisor import Child, Supervisor

    async def worker(name):
        try:
            await trio.sleep_forever()
        finally:
            print(f"stopped {name}", flush=True)

    tree = Supervisor(
        name="t",
        children=[Child(name=n, target=worker, args=(n,)) for n in ("a", "b", "c")],
    )

    async def crash():
        raise RuntimeError("always")

    async def stubborn():
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(3600)

    hung = Supervisor(name="h", children=[Child(name="s", target=stubborn, shutdown=0.1)])

    doomed = Supervisor(name="d", intensity=1, children=[Child(name="c", target=crash)])

    async def probing(name):
        # While it is being stopped, ask the tree's own server what a kubelet
        # would see (the HTTP server is stopped after the root).
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                import httpx
                base = f"http://{os.environ['PROBE_ADDRESS']}"
                async with httpx.AsyncClient() as client:
                    ready = (await client.get(f"{base}/readyz")).status_code
                    live = (await client.get(f"{base}/livez")).status_code
            print(f"stopped {name} readyz={ready} livez={live}", flush=True)

    probed = Supervisor(
        name="p", children=[Child(name=n, target=probing, args=(n,)) for n in "abc"]
    )
    """
)


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "mytree.py"
    path.write_text(TREE)
    return path


class TestLoadSpec:
    def test_loads_from_a_file_and_a_module(self, spec_file: Path) -> None:
        """
        FILE.py:NAME and MODULE:NAME both work; a function returning a spec is called.
        """
        from_file = _cli.load_spec(f"{spec_file}:tree")
        sys.path.insert(0, str(EXAMPLES))
        try:
            from_module = _cli.load_spec("demo:tree")
        finally:
            sys.path.remove(str(EXAMPLES))

        assert ("t", "demo") == (from_file.name, from_module.name)

    @pytest.mark.parametrize(
        ("ref", "message"),
        [
            ("nocolon", "expected MODULE:NAME"),
            ("missing_module_xyz:tree", "cannot import"),
            ("{file}:nope", "has no 'nope'"),
            ("{file}:TREE_NOT_A_SPEC", "not a Supervisor spec"),
            ("/no/such/file.py:tree", "no file"),
        ],
    )
    def test_bad_references_are_explained(
        self, spec_file: Path, ref: str, message: str
    ) -> None:
        """
        A spec that cannot be loaded gives an error naming the reference and the problem.
        """
        spec_file.write_text(TREE + "\nTREE_NOT_A_SPEC = 42\n")

        with pytest.raises(_cli.SpecLoadError, match=message):
            _cli.load_spec(ref.format(file=spec_file))

    def test_gc_freeze_after_start(self, spec_file: Path) -> None:
        """
        run --gc-freeze freezes the collector's view once every child has started.
        """
        spec_file.write_text(
            TREE + "\nfrom supervisor import AutoShutdown, Restart\n"
            "async def done():\n    return\n"
            "brief = Supervisor(name='b', auto_shutdown=AutoShutdown.ANY_SIGNIFICANT, "
            "children=[Child(name='j', target=done, restart=Restart.TRANSIENT, significant=True)])\n"
        )
        gc.unfreeze()
        try:
            assert 0 == _cli.main(
                ["run", f"{spec_file}:brief", "--gc-freeze", "--log-format", "json"]
            )
            frozen = gc.get_freeze_count()
        finally:
            gc.unfreeze()

        assert frozen > 0

    @pytest.mark.parametrize(
        ("flag", "mode"),
        [
            ((), ShowDetails.WHEN_AUTHORIZED),
            (("--show-details", "never"), ShowDetails.NEVER),
            (("--show-details", "when-authorized"), ShowDetails.WHEN_AUTHORIZED),
            (("--show-details", "always"), ShowDetails.ALWAYS),
        ],
    )
    def test_show_details_reaches_the_http_options(
        self,
        spec_file: Path,
        monkeypatch: pytest.MonkeyPatch,
        flag: tuple[str, ...],
        mode: ShowDetails,
    ) -> None:
        """
        run --show-details never|when-authorized|always sets HttpOptions.show_details.
        """
        seen: list[HttpOptions | None] = []

        async def fake_serve(
            spec: object, http: HttpOptions | None, *rest: object
        ) -> None:
            seen.append(http)

        monkeypatch.setattr(_cli, "serve", fake_serve)
        argv = ["run", f"{spec_file}:tree", "--http", "127.0.0.1:0", *flag]

        assert 0 == _cli.main([*argv, "--log-format", "json"])
        assert seen[0] is not None
        assert mode is seen[0].show_details

    def test_show_details_refuses_other_words(
        self, spec_file: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """
        Any other --show-details value is an argparse error (exit 2).
        """
        with pytest.raises(SystemExit) as exited:
            _cli.main(["run", f"{spec_file}:tree", "--show-details", "sometimes"])

        assert 2 == exited.value.code
        assert "--show-details" in capsys.readouterr().err

    def test_usage_error_exit_code(self, capsys: pytest.CaptureFixture[str]) -> None:
        """
        main() returns 2 and explains on stderr when the spec cannot be loaded.
        """
        assert 2 == _cli.main(["run", "nocolon"])
        assert "expected MODULE:NAME" in capsys.readouterr().err


def spawn(
    spec_ref: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "supervisor.cli._main",
            "run",
            spec_ref,
            "--log-format",
            "json",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def free_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def wait_for_line(stream: object, *needles: str, timeout: float = 20) -> list[str]:
    # Real clock: this test is about real signals to a real process.
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()  # type: ignore[attr-defined]
        if not line:
            break
        lines.append(line)
        if all(needle in line for needle in needles):
            return lines
    pytest.fail(f"{needles!r} not seen; got {lines}")


class TestProcess:
    def test_sigint_stops_in_reverse_order_and_exits_0(self, spec_file: Path) -> None:
        """
        SIGINT: an ordered stop (c, b, a), then a clean exit with status 0.
        """
        proc = spawn(f"{spec_file}:tree")
        try:
            wait_for_line(proc.stderr, '"supervisor_started"')
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
        finally:
            proc.kill()

        assert ["stopped c", "stopped b", "stopped a"] == out.split("\n")[:3]
        assert "stop_requested" in err
        assert 0 == proc.returncode

    def test_sigterm_fails_readiness_first_then_stops_in_reverse_order(
        self, spec_file: Path
    ) -> None:
        """
        SIGTERM, as Kubernetes sends it: from the first moment of the stop
        /readyz answers 503 (so no new traffic is routed here) while /livez
        still answers 200 (so the kubelet does not kill the process mid-stop);
        the children stop c, b, a, and the process exits 0 well within the
        stop budget.
        """
        address = free_address()
        proc = spawn(
            f"{spec_file}:probed", "--http", address, env={"PROBE_ADDRESS": address}
        )
        try:
            wait_for_line(proc.stderr, '"supervisor_started"', '"path": "p"')
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
            took = time.monotonic() - began
        finally:
            proc.kill()

        assert [
            "stopped c readyz=503 livez=200",
            "stopped b readyz=503 livez=200",
            "stopped a readyz=503 livez=200",
        ] == out.splitlines()[:3]
        assert "stop_requested" in err
        assert (0, True) == (proc.returncode, took < 10)

    def test_root_giving_up_exits_1(self, spec_file: Path) -> None:
        """
        When the root exceeds its intensity the command logs it and exits 1.
        """
        proc = spawn(f"{spec_file}:doomed")
        _, err = proc.communicate(timeout=30)

        assert 1 == proc.returncode
        assert "tree_gave_up" in err
        assert "always" in err

    def test_second_sigint_forces_exit_past_an_unstopped_child(
        self, spec_file: Path
    ) -> None:
        """
        A child that ignores cancellation keeps the tree waiting; a second SIGINT exits 130.
        """
        proc = spawn(f"{spec_file}:hung")
        try:
            wait_for_line(proc.stderr, '"supervisor_started"')
            proc.send_signal(signal.SIGINT)
            wait_for_line(proc.stderr, '"child_unstopped"')
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
        finally:
            proc.kill()

        assert 130 == proc.returncode
        assert "forced_exit" in err

    def test_a_stuck_stop_ends_at_the_stop_timeout(self, spec_file: Path) -> None:
        """
        One SIGTERM: the child that ignores cancellation is reported unstopped, and the
        process exits at --stop-timeout rather than waiting for it forever.
        """
        proc = spawn(f"{spec_file}:hung", "--stop-timeout", "1")
        try:
            wait_for_line(proc.stderr, '"supervisor_started"')
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=20)
            took = time.monotonic() - began
        finally:
            proc.kill()

        assert 130 == proc.returncode
        assert "child_unstopped" in err
        assert "the stop took longer than 1 s" in err
        assert 0.9 <= took < 10


class TestStatusCommand:
    def test_status_of_a_live_tree_and_of_nothing(self, spec_file: Path) -> None:
        """
        `supervisor status URL` prints the tree and exits 0 while healthy; 1 when
        nothing answers. --json prints the raw document.
        """
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "supervisor.cli._main",
                "run",
                f"{spec_file}:tree",
                "--http",
                f"127.0.0.1:{port}",
                "--log-format",
                "json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            wait_for_line(proc.stderr, '"supervisor_started"', '"path": "t"')
            shown = subprocess.run(
                [sys.executable, "-m", "supervisor.cli._main", "status", url],
                capture_output=True,
                text=True,
                check=False,
            )
            raw = subprocess.run(
                [sys.executable, "-m", "supervisor.cli._main", "status", url, "--json"],
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=20)
        gone = subprocess.run(
            [sys.executable, "-m", "supervisor.cli._main", "status", url],
            capture_output=True,
            text=True,
            check=False,
        )

        assert 0 == shown.returncode, shown.stderr
        assert "livez ok" in shown.stdout
        assert ["a running", "b running", "c running"] == [
            line.split("── ")[1].strip()
            for line in shown.stdout.splitlines()
            if "── " in line
        ]
        assert (0, True) == (
            raw.returncode,
            json.loads(raw.stdout)["verdicts"]["healthz"],
        )
        assert 1 == gone.returncode
        assert "cannot read" in gone.stderr


class TestStatusOfAStrangeServer:
    """
    `supervisor status` talks to whatever answers on that port (another
    service, a proxy, an attacker): a document of another shape is one line and
    exit 1, never a traceback, and what the server sends reaches the terminal
    without its control characters (no escape sequences, no forged lines).
    """

    @staticmethod
    def answer(monkeypatch: pytest.MonkeyPatch, body: bytes) -> None:
        def get(url: str, **kwargs: Any) -> httpx.Response:
            return httpx.Response(200, content=body, request=httpx.Request("GET", url))

        monkeypatch.setattr(httpx, "get", get)

    @pytest.mark.parametrize(
        ("body", "says"),
        [
            (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
            (b"[]", "not a supervisor status document"),
            (b'{"tree": 5}', "not a supervisor status document"),
            (b'{"tree": {"root": null}, "verdicts": {}}', "not a supervisor status"),
        ],
    )
    def test_a_document_of_another_shape_is_one_line(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        body: bytes,
        says: str,
    ) -> None:
        self.answer(monkeypatch, body)

        assert 1 == _cli.main(["status", "http://127.0.0.1:1"])
        err = capsys.readouterr().err
        assert says in err
        assert 1 == err.count("\n")

    def test_control_characters_are_escaped(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        node = {
            "name": "r\x1b[31m\n[fake] line",
            "state": "running\x1b]0;x\x07",
            "restarts": 1,
            "children": [],
            "last_exit": {
                "reason": "crash",
                "exc_type": "E\x1b[2J",
                "exc_message": "m",
            },
        }
        document = {
            "tree": {"root": node},
            "verdicts": {"livez": True, "readyz": True, "healthz": True},
            "checks": [{"name": "c\x1b", "status": "fail", "last_error": "e\x9b1m"}],
        }
        self.answer(monkeypatch, json.dumps(document).encode())

        assert 0 == _cli.main(["status", "http://127.0.0.1:1"])
        out = capsys.readouterr().out
        for char in "\x1b\x07\x9b":
            assert char not in out
        assert "r\\x1b[31m\\n[fake] line" in out


def test_status_line_tells_the_three_restart_counters_apart() -> None:
    """`supervisor status` shows restarts a child did not cause, each named."""
    from supervisor.cli._status import _line  # noqa: PLC0415 - the one line under test

    node = {
        "name": "b",
        "state": "running",
        "restarts": 2,
        "sweep_restarts": 3,
        "manual_restarts": 1,
        "last_exit": None,
    }

    line = _line(node)

    assert "restarts 2" in line
    assert "swept 3" in line
    assert "restarted by hand 1" in line
    assert "swept" not in _line({**node, "sweep_restarts": 0})
