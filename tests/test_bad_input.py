"""
Bad input is refused early and clearly (issue 9, items 8 and 16-20): infinite
durations, unbindable arguments, hostile names, over-deep trees, bad HTTP
binds, spec files that fail to load, and hostile HTTP clients.
"""

from __future__ import annotations

import errno
import gc
import inspect
import json
import math
import socket
import sys
import textwrap
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from supervisor import (
    Backoff,
    Check,
    Child,
    DynamicSupervisor,
    HealthApp,
    HttpBindError,
    HttpOptions,
    SpecError,
    Supervisor,
    TooManyRestarts,
    open_tree,
    run,
)
from supervisor._spec import MAX_DEPTH
from supervisor.cli import _main as _cli
from supervisor.http._documents import dumps
from tests.http.test_http_fuzz import call

INF = math.inf
TOKEN = "t0ken"
AUTH = [(b"authorization", f"Bearer {TOKEN}".encode())]


async def idle(*args: object) -> None:
    await trio.sleep_forever()


async def job(order: str) -> None:
    await trio.sleep_forever()


async def ready(n: int, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()
    await trio.sleep_forever()


async def passing() -> None:
    return None


def request(
    method: str, path: str, body: bytes = b"", headers: Any = (), query: bytes = b""
) -> dict[str, Any]:
    return {
        "method": method,
        "path": path,
        "query": query,
        "headers": list(headers),
        "body": body,
    }


def pool_tree() -> Supervisor:
    return Supervisor(
        name="app",
        children=[DynamicSupervisor(name="pool", template=Child(name="j", target=job))],
    )


# ---- item 8: infinities -----------------------------------------------------


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (
            lambda: Child(name="w", target=idle, heartbeat_timeout=INF),
            "heartbeat_timeout",
        ),
        (lambda: Child(name="w", target=idle, shutdown=INF), "shutdown"),
        (lambda: Child(name="w", target=idle, start_timeout=INF), "start_timeout"),
        (lambda: Backoff(initial=INF, max=INF), "initial"),
        (lambda: Backoff(max=INF), "max"),
        (lambda: Backoff(reset_after=INF), "reset_after"),
        (lambda: Supervisor(name="w", period=INF), "period"),
        (lambda: Supervisor(name="w", shutdown=INF), "shutdown"),
        (
            lambda: DynamicSupervisor(
                name="w", template=Child(name="j", target=idle), period=INF
            ),
            "period",
        ),
        (lambda: Check(name="w", fn=passing, interval=INF), "interval"),
        (lambda: Check(name="w", fn=passing, timeout=INF), "timeout"),
    ],
)
def test_infinite_durations_are_refused(make: Callable[[], object], field: str) -> None:
    """
    inf is refused with a SpecError naming the field (None is "no bound" where one makes sense).
    """
    with pytest.raises(SpecError) as excinfo:
        make()

    assert field == excinfo.value.field
    assert "finite" in excinfo.value.problem


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Child(name="w", target=idle, shutdown=10**400), "shutdown"),
        (lambda: Supervisor(name="w", intensity=10**400), "intensity"),
        (lambda: Backoff(max=10**400), "max"),
        (
            lambda: DynamicSupervisor(
                name="w", template=Child(name="j", target=idle), max_children=10**400
            ),
            "max_children",
        ),
        (
            lambda: Check(name="w", fn=passing, failure_threshold=10**400),
            "failure_threshold",
        ),
    ],
)
def test_an_int_beyond_any_float_is_refused(
    make: Callable[[], object], field: str
) -> None:
    """
    An int too large for a float (10**400) is a SpecError naming the field, not
    a bare OverflowError from the validator's own isinf(); the value is cut.
    """
    with pytest.raises(SpecError) as excinfo:
        make()

    assert field == excinfo.value.field
    assert "finite" in excinfo.value.problem
    assert len(str(excinfo.value)) < 200


async def test_an_infinite_loop_block_threshold_is_refused() -> None:
    """
    open_tree(loop_block_threshold=inf) is a SpecError, not a watcher that never fires.
    """
    with pytest.raises(SpecError, match="loop_block_threshold"):
        async with open_tree(pool_tree(), loop_block_threshold=INF):
            pass


async def test_status_serves_non_finite_floats_as_null() -> None:
    """
    A non-finite float anywhere in /status is served as null, never a 500.
    """
    child = Child(name="w", target=idle, heartbeat_timeout=5)
    object.__setattr__(child, "heartbeat_timeout", INF)  # past validation
    spec = Supervisor(name="app", children=[child])
    async with open_tree(spec, loop_block_threshold=None) as tree:
        status, body = await call(HealthApp(tree), request("GET", "/status"))

    assert 200 == status
    assert json.loads(body)["tree"]["root"]["children"][0]["heartbeat_timeout"] is None
    assert b'{"a":null,"b":[1.5,null]}' == dumps({"a": INF, "b": (1.5, math.nan)})


# ---- item 16: binds ---------------------------------------------------------


@pytest.mark.parametrize(
    "bind",
    [
        "8080",
        "127.0.0.1:99999",
        "127.0.0.1:abc",
        "localhost",
        ":8097",
        "::1:8080",
        "127.0.0.1:-1",
        "127.0.0.1:",
        "[nothost]:80",
        "a b:80",
        8080,
        None,
    ],
)
def test_bad_binds_are_refused_at_construction(bind: object) -> None:
    """
    HttpOptions(bind=...) takes HOST:PORT (port 0-65535, host required, IPv6 in brackets).
    """
    with pytest.raises(SpecError) as excinfo:
        HttpOptions(bind=bind)  # type: ignore[arg-type]

    assert ("http", "bind") == (excinfo.value.path, excinfo.value.field)


@pytest.mark.parametrize(
    "bind", ["127.0.0.1:8080", "localhost:1", "[::1]:65535", "0.0.0.0:0"]
)
def test_good_binds_are_accepted(bind: str) -> None:
    """
    Names, IPv4, bracketed IPv6 and port 0 (a free port) are all fine.
    """
    assert bind == HttpOptions(bind=bind).bind


async def test_http_that_is_not_an_address_is_refused_by_run_and_open_tree() -> None:
    """
    http=8080 (an int) and http="localhost" are SpecErrors from run() and open_tree().
    """
    with pytest.raises(SpecError, match="HOST:PORT"):
        await run(pool_tree(), http=8080)  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="HOST:PORT"):
        async with open_tree(pool_tree(), http="localhost"):
            pass


@pytest.fixture
def taken() -> Any:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"127.0.0.1:{sock.getsockname()[1]}"


async def test_a_bind_failure_fails_the_run_at_once(taken: str) -> None:
    """
    An address in use: HttpBindError (address, OSError) raised bare, before any child starts.
    """
    started = []

    async def child() -> None:
        started.append(1)
        await trio.sleep_forever()

    spec = Supervisor(name="app", children=[Child(name="c", target=child)])
    began = time.monotonic()
    with pytest.raises(HttpBindError) as excinfo:
        async with open_tree(spec, http=taken):
            pass
    with pytest.raises(HttpBindError):
        await run(spec, http=HttpOptions(bind=taken))

    assert time.monotonic() - began < 5
    assert taken == excinfo.value.address
    assert errno.EADDRINUSE == excinfo.value.error.errno
    assert f"cannot serve HTTP on {taken}: " in str(excinfo.value)
    assert [] == started


async def test_an_unresolvable_host_is_a_bind_failure() -> None:
    """
    A host that does not resolve is an HttpBindError too (socket.gaierror), not a retry loop.
    """
    with pytest.raises(HttpBindError) as excinfo:
        await run(pool_tree(), http="no-such-host.invalid:8080")

    assert isinstance(excinfo.value.error, socket.gaierror)


def test_cli_bad_http_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """
    --http 8080 is refused by argparse (exit 2) before anything runs.
    """
    with pytest.raises(SystemExit) as excinfo:
        _cli.main(["run", "x:y", "--http", "8080"])

    assert 2 == excinfo.value.code
    assert "argument --http: expected HOST:PORT" in capsys.readouterr().err


def test_cli_bind_failure_exits_3_with_one_line(
    tmp_path: Path, taken: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    A port in use: exit status 3 and one line naming the address and the OS error.
    """
    (tmp_path / "bindtree.py").write_text(SPEC_OK)

    status = _cli.main(["run", f"{tmp_path}/bindtree.py:tree", "--http", taken])

    err = capsys.readouterr().err
    assert _cli.EXIT_HTTP_BIND == status == 3
    assert [
        f"supervisor: cannot serve HTTP on {taken}: [Errno 98] Address already in use"
    ] == [line for line in err.splitlines() if line.startswith("supervisor:")]
    assert "Traceback" not in err


async def test_the_http_server_keeps_its_port_across_restarts() -> None:
    """
    The listener is bound once per run: a restarted HTTP child serves on the same port.
    """
    async with open_tree(pool_tree(), http="127.0.0.1:0") as tree:
        first = tree.http_addresses[0]
        system = tree._top.system
        assert system is not None
        slot = system.slots["http"]

        async def restart() -> trio.Event:
            await system.restart(slot)
            return system.settle_event(slot)

        settled = await system.call(restart)
        with trio.fail_after(5):
            await settled.wait()

        assert (2, [first]) == (slot.starts, tree.http_addresses)
        host, _, port = first.rpartition(":")
        stream = await trio.open_tcp_stream(host, int(port))
        await stream.send_all(
            b"GET /livez HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        )
        answer = b""
        with trio.fail_after(5):
            while chunk := await stream.receive_some():
                answer += chunk
        await stream.aclose()

    assert answer.startswith(b"HTTP/1.1 200")


# ---- item 17: loading specs in the CLI ----------------------------------------

SPEC_OK = textwrap.dedent(
    """
    from supervisor import AutoShutdown, Child, Restart, Supervisor

    async def done():
        return

    tree = Supervisor(
        name="b",
        auto_shutdown=AutoShutdown.ANY_SIGNIFICANT,
        children=[Child(name="j", target=done, restart=Restart.TRANSIENT, significant=True)],
    )
    """
)


def test_a_module_in_the_current_directory_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    `supervisor run app:tree` from the project directory finds app.py (cwd on sys.path).
    """
    (tmp_path / "h6_cwd_app.py").write_text(SPEC_OK)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    monkeypatch.delitem(sys.modules, "h6_cwd_app", raising=False)

    assert 0 == _cli.main(["run", "h6_cwd_app:tree", "--log-format", "json"])
    sys.modules.pop("h6_cwd_app", None)


FAILING_SOURCES = {
    "import": "import h6_no_such_dependency_xyz\n",
    "syntax": "def broken(:\n    pass\n",
    "factory": "def tree():\n    return {}['missing key']\n",
    "spec": textwrap.dedent(
        """
        from supervisor import Child, Supervisor
        async def w(order):
            pass
        tree = Supervisor(name="t", children=[Child(name="w", target=w, args="orders")])
        """
    ),
}


@pytest.mark.parametrize("form", ["module", "file"])
@pytest.mark.parametrize(
    "case",
    [
        (
            "import",
            1,
            "ModuleNotFoundError: No module named 'h6_no_such_dependency_xyz'",
        ),
        ("syntax", 1, "SyntaxError"),
        ("factory", 2, "KeyError: 'missing key'"),
        ("spec", 5, "args=(value,)"),
    ],
)
def test_spec_loading_failures_exit_2_with_the_users_traceback(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    form: str,
    case: tuple[str, int, str],
) -> None:
    """
    Import errors, syntax errors, a raising factory and a SpecError all exit 2 and show
    the user's own frames (file and line), none of ours, in both reference forms.
    """
    kind, line, shown = case
    name = f"h6_fail_{kind}_{form}"
    path = tmp_path / f"{name}.py"
    path.write_text(FAILING_SOURCES[kind])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    ref = f"{name}:tree" if form == "module" else f"{path}:tree"

    status = _cli.main(["run", ref])

    err = capsys.readouterr().err
    assert 2 == status
    assert f'File "{path}", line {line}' in err
    assert shown in err
    for ours in ("_main.py", "importlib", "_spec.py"):
        assert ours not in err
    sys.modules.pop(name, None)


def test_an_async_factory_is_refused_without_a_coroutine_warning(
    tmp_path: Path,
) -> None:
    """
    NAME naming an async function is refused with a clear message, never called.
    """
    path = tmp_path / "h6_async_factory.py"
    path.write_text("async def tree():\n    raise AssertionError('called')\n")

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(_cli.SpecLoadError, match="is an async function"):
            _cli.load_spec(f"{path}:tree")
        gc.collect()

    assert [] == [w for w in seen if "never awaited" in str(w.message)]


def test_the_article_fits_the_type(tmp_path: Path) -> None:
    """
    "is an int", not "is a int".
    """
    path = tmp_path / "h6_int.py"
    path.write_text("tree = 42\n")

    with pytest.raises(_cli.SpecLoadError, match=r"is an int, not a Supervisor spec"):
        _cli.load_spec(f"{path}:tree")


@pytest.mark.parametrize("value", ["nan", "-5", "0", "inf", "soon"])
def test_a_bad_stop_timeout_is_a_usage_error(value: str) -> None:
    """
    --stop-timeout takes a finite number of seconds > 0 (argparse: exit 2).
    """
    with pytest.raises(SystemExit) as excinfo:
        _cli.main(["run", "x:y", "--stop-timeout", value])

    assert 2 == excinfo.value.code


# ---- item 18: arguments that cannot bind -------------------------------------


def test_a_string_as_args_is_refused_with_a_hint() -> None:
    """
    args="orders" would pass six one-letter arguments: refused, with the tuple
    to write. The value itself is not echoed: args=API_KEY (the comma
    forgotten) must not print the key in the CLI's error or a crash log.
    """
    with pytest.raises(SpecError) as excinfo:
        Child(name="w", target=job, args="sk-live-0rders")  # type: ignore[arg-type]

    assert ("w", "args") == (excinfo.value.path, excinfo.value.field)
    assert "got a str; for one argument write args=(value,)" in str(excinfo.value)
    assert "sk-live" not in str(excinfo.value)


@pytest.mark.parametrize(
    ("child", "field", "problem"),
    [
        (dict(target=job), "args", "missing a required argument: 'order'"),
        (dict(target=job, args=("a", "b")), "args", "too many positional arguments"),
        (
            dict(target=job, kwargs={"other": 1}),
            "kwargs",
            "unexpected keyword argument 'other'",
        ),
        (
            dict(target=ready, kwargs={"task_status": 1}, args=(1,)),
            "kwargs",
            "task_status",
        ),
    ],
)
def test_arguments_that_do_not_bind_are_refused(
    child: dict[str, Any], field: str, problem: str
) -> None:
    """
    A child whose args/kwargs do not fit its target is a SpecError naming the child and field.
    """
    with pytest.raises(SpecError) as excinfo:
        Supervisor(name="root", children=[Child(name="w", **child)])

    # Too many arguments fail when the child is made, missing ones once it is placed.
    assert (field, "w") == (excinfo.value.field, excinfo.value.path.split("/")[-1])
    assert problem in str(excinfo.value)


def test_arguments_that_bind_are_accepted() -> None:
    """
    task_status is supplied by the supervisor; keyword arguments and partials bind too.
    """
    Supervisor(
        name="root",
        children=[
            Child(name="a", target=ready, args=(1,)),
            Child(name="b", target=job, kwargs={"order": "x"}),
            Child(name="c", target=idle, args=(1, 2, 3)),
        ],
    )


class Unsigned:
    """An async callable whose signature cannot be read (like some builtins)."""

    __signature__ = "not a signature"

    async def __call__(self, *args: object) -> None:
        await trio.sleep_forever()


def test_targets_without_a_signature_are_not_checked() -> None:
    """
    When inspect.signature cannot read the target, its arguments are not checked.
    """
    with pytest.raises(TypeError):
        inspect.signature(Unsigned())

    Supervisor(name="root", children=[Child(name="u", target=Unsigned(), args=(1, 2))])


async def test_dynamic_start_child_checks_the_appended_args(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """
    A template may leave arguments to start_child; start_child checks the full call.
    """
    async with open_tree(pool_tree(), loop_block_threshold=None) as tree:
        with pytest.raises(SpecError) as missing:
            await tree.start_child("app/pool")
        with pytest.raises(SpecError) as extra:
            await tree.start_child("app/pool", args=("a", "b"))
        path = await tree.start_child("app/pool", args=("a",))

        # Too many arguments fail the template's own check: still the full path.
        assert extra.value.path.startswith("app/pool/j-")

        assert "app/pool/j-" in path
        assert ("args", 1) == (
            missing.value.field,
            len(tree.which_children("app/pool")),
        )


# ---- item 19: hostile HTTP input, names and deep trees -----------------------


@pytest.mark.parametrize(
    "name",
    [
        "a\r\nb",
        "a\nb",
        "..",
        ".",
        "a\x00b",
        "a\x1b[31m",
        "a\u202eb",
        "a\\b",
        " a",
        "a\u2028b",
        "x" * 256,
    ],
)
def test_hostile_names_are_refused(name: str) -> None:
    """
    CR/LF, control and format characters, '.', '..', backslashes, padding: refused.
    """
    with pytest.raises(SpecError) as excinfo:
        Child(name=name, target=idle)

    assert "name" == excinfo.value.field
    assert "\n" not in str(excinfo.value)
    assert "\r" not in str(excinfo.value)


async def test_hostile_dynamic_names_are_refused_in_code_and_over_http(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """
    start_child(name="a\\r\\nb") is a SpecError; over HTTP a 400, and nothing starts.
    """
    async with open_tree(pool_tree(), loop_block_threshold=None) as tree:
        with pytest.raises(SpecError):
            await tree.start_child("app/pool", args=("x",), name="a\r\nb")
        app = HealthApp(tree, token=TOKEN)
        body = json.dumps({"args": ["x"], "name": ".."}).encode()
        status, _ = await call(
            app, request("POST", "/control/start/app/pool", body, AUTH)
        )

        assert 400 == status
        assert [] == tree.which_children("app/pool")


async def test_deeply_nested_json_bodies_get_a_400(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """
    A body nested past json's recursion limit, or past 32 levels, is a 400, not a 500.
    """
    async with open_tree(pool_tree(), loop_block_threshold=None) as tree:
        app = HealthApp(tree, token=TOKEN)
        nested: Any = "x"
        for _ in range(40):
            nested = [nested]
        too_deep = json.dumps({"args": [nested]}).encode()
        for body in (b"[" * 60000, too_deep):
            status, _ = await call(
                app, request("POST", "/control/start/app/pool", body, AUTH)
            )

            assert 400 == status
        assert [] == tree.which_children("app/pool")


def deep(levels: int) -> Supervisor:
    spec: Child | Supervisor = Child(name="leaf", target=idle)
    for level in range(levels - 1):
        spec = Supervisor(name=f"s{level}", children=[spec])
    assert isinstance(spec, Supervisor)
    return spec


def test_a_tree_deeper_than_the_limit_is_refused() -> None:
    """
    Past MAX_DEPTH (100) levels, construction fails with a SpecError naming the limit.
    """
    with pytest.raises(SpecError, match=f"at most {MAX_DEPTH} levels deep"):
        deep(MAX_DEPTH + 1)
    with pytest.raises(SpecError, match="at most"):
        DynamicSupervisor(name="d", template=deep(MAX_DEPTH))


async def test_the_deepest_tree_is_served(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """
    At MAX_DEPTH levels, /status, /metrics and the probes all answer 200.
    """
    async with open_tree(deep(MAX_DEPTH), loop_block_threshold=None) as tree:
        app = HealthApp(tree)
        answers = [
            await call(app, request("GET", path, query=b"verbose"))
            for path in ("/status", "/metrics", "/livez", "/readyz", "/healthz")
        ]
        bottom = "/".join(f"s{level}" for level in reversed(range(MAX_DEPTH - 1)))
        two_levels = Supervisor(name="more", children=[Child(name="c", target=idle)])
        with pytest.raises(SpecError, match="levels deep"):
            await tree.start_child(bottom, two_levels)

    assert [200] * 5 == [status for status, _ in answers]
    assert json.loads(answers[0][1])["tree"]["root"]["name"] == f"s{MAX_DEPTH - 2}"


async def test_a_websocket_upgrade_is_refused_with_403() -> None:
    """
    Nothing here speaks WebSocket: an upgrade gets 403 (ASGI websocket.close), not 500.
    """
    async with open_tree(
        pool_tree(), http="127.0.0.1:0", loop_block_threshold=None
    ) as tree:
        host, _, port = tree.http_addresses[0].rpartition(":")
        stream = await trio.open_tcp_stream(host, int(port))
        await stream.send_all(
            b"GET /status HTTP/1.1\r\nhost: t\r\nupgrade: websocket\r\n"
            b"connection: upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"sec-websocket-version: 13\r\n\r\n"
        )
        with trio.fail_after(5):
            answer = await stream.receive_some()
        await stream.aclose()

    assert answer.startswith(b"HTTP/1.1 403")


async def test_a_4xx_answer_quotes_at_most_512_characters_of_the_request() -> None:
    """
    A 404 names the path it did not find; a 20 KB path is not echoed whole.
    """
    async with open_tree(pool_tree(), loop_block_threshold=None) as tree:
        status, body = await call(
            HealthApp(tree),
            {
                "method": "GET",
                "path": "/" + "x" * 20_000,
                "query": b"",
                "headers": [],
                "body": b"",
            },
        )

    assert 404 == status
    assert len(body) < 600
    assert body.startswith(b"no such page: /xxx")


def test_too_many_restarts_says_restart_for_one() -> None:
    one = TooManyRestarts("app", 1, 5, None)
    many = TooManyRestarts("app", 3, 5, None)

    assert (
        "app: more than 1 restart within 5 s",
        "app: more than 3 restarts within 5 s",
    ) == (
        str(one),
        str(many),
    )


# ---- item 20: probes under anonymous load ------------------------------------


async def _probe(host: str, port: int) -> float:
    began = time.perf_counter()
    stream = await trio.open_tcp_stream(host, port)
    await stream.send_all(
        b"GET /livez HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
    )
    answer = b""
    while chunk := await stream.receive_some():
        answer += chunk
    await stream.aclose()
    assert answer.startswith(b"HTTP/1.1 200")
    return time.perf_counter() - began


async def test_probes_stay_fast_with_many_idle_connections() -> None:
    """
    With 300 idle clients (silent, and keep-alive after one request), /livez on a new
    connection still answers well within the kubelet's 1 s timeout.
    """
    async with open_tree(
        pool_tree(), http="127.0.0.1:0", loop_block_threshold=None
    ) as tree:
        host, _, port_text = tree.http_addresses[0].rpartition(":")
        port = int(port_text)
        held = []
        try:
            for i in range(300):
                stream = await trio.open_tcp_stream(host, port)
                if i % 2:
                    await stream.send_all(b"GET /livez HTTP/1.1\r\nhost: t\r\n\r\n")
                    await stream.receive_some()
                held.append(stream)
            with trio.fail_after(30):
                times = sorted([await _probe(host, port) for _ in range(20)])
        finally:
            for stream in held:
                await stream.aclose()

    assert times[-1] < 1.0, times


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.socket()
    sock.setblocking(False)
    sock.connect_ex(address)
    return sock


def _finish_probe(sock: socket.socket) -> bytes:
    sock.setblocking(True)
    sock.settimeout(10)
    sock.sendall(b"GET /livez HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
    return answer


async def test_a_probe_behind_a_connect_burst_is_not_dropped() -> None:
    """
    300 clients connect while the loop is busy for 0.2 s, then a probe: with a short
    listen backlog the probe's SYN is dropped and retried after 1 s (the kubelet's
    timeout); with HTTP_BACKLOG it queues and is answered at once.
    """
    async with open_tree(
        pool_tree(), http="127.0.0.1:0", loop_block_threshold=None
    ) as tree:
        host, _, port = tree.http_addresses[0].rpartition(":")
        address = (host, int(port))
        crowd = [_connect(address) for _ in range(300)]
        began = time.monotonic()
        probe = _connect(address)
        time.sleep(0.2)  # noqa: ASYNC251 - the point: the server cannot accept meanwhile
        try:
            answer = await trio.to_thread.run_sync(_finish_probe, probe)
            took = time.monotonic() - began
        finally:
            for sock in (*crowd, probe):
                sock.close()

    assert answer.startswith(b"HTTP/1.1 200")
    # A dropped SYN is retried after 1 s: the probe would take 1.0 s at least.
    assert took < 0.95, took
