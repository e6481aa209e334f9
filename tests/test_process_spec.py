"""`Process` specs: keyword-only, validated at construction, accepted wherever a `Child` is."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from supervisor import (
    DynamicSupervisor,
    Process,
    Restart,
    SpecError,
    Supervisor,
    open_tree,
)
from supervisor._process_spec import find_program
from supervisor._spec import child_to_add


def test_defaults() -> None:
    spec = Process(name="redis", argv=["redis-server", "--port", "0"])

    assert spec.argv == ("redis-server", "--port", "0")
    assert spec.stop_signal is signal.SIGTERM
    assert (spec.shutdown, spec.start_timeout, spec.notify) == (5.0, 30.0, False)
    assert spec.restart is Restart.PERMANENT


def test_keyword_only() -> None:
    with pytest.raises(TypeError):
        Process("redis", ["redis-server"])  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "field", "problem"),
    [
        ({"argv": []}, "argv", "must be a non-empty list"),
        ({"argv": "sleep 1"}, "argv", "must be a non-empty list"),
        ({"argv": ["sleep", 1]}, "argv", "[1] must be a string"),
        ({"argv": ["sleep", "a\0b"]}, "argv", "[1] holds a NUL byte"),
        ({"argv": [""]}, "argv", "[0] (the program) is empty"),
        (
            {"argv": ["no-such-program-xyz"]},
            "argv",
            "is not an executable file, nor found on PATH",
        ),
        ({"argv": ["/etc/passwd"]}, "argv", "is not an executable file"),
        (
            {"argv": ["sleep"], "stop_signal": 0},
            "stop_signal",
            "must be a signal a program can handle",
        ),
        (
            {"argv": ["sleep"], "stop_signal": signal.SIGKILL},
            "stop_signal",
            "SIGKILL comes by itself",
        ),
        ({"argv": ["sleep"], "stop_signal": "TERM"}, "stop_signal", "must be a signal"),
        ({"argv": ["sleep"], "shutdown": 0}, "shutdown", "must be > 0"),
        ({"argv": ["sleep"], "shutdown": None}, "shutdown", "must be a number"),
        ({"argv": ["sleep"], "env": {"A": 1}}, "env", "['A'] must be a string"),
        ({"argv": ["sleep"], "env": {"A=B": "1"}}, "env", "not a variable name"),
        ({"argv": ["sleep"], "env": ["A"]}, "env", "must be a mapping"),
        (
            {"argv": ["sleep"], "cwd": "/no/such/dir"},
            "cwd",
            "must be an existing directory",
        ),
        (
            {"argv": ["sleep"], "heartbeat_timeout": 1.0},
            "heartbeat_timeout",
            "needs notify=True",
        ),
        ({"argv": ["sleep"], "max_rss": 0}, "max_rss", "must be >= 1"),
        (
            {"argv": ["sleep"], "significant": True},
            "significant",
            "cannot be True for a PERMANENT",
        ),
    ],
)
def test_refused(kwargs: dict[str, object], field: str, problem: str) -> None:
    with pytest.raises(SpecError) as caught:
        Process(name="p", **kwargs)  # type: ignore[arg-type]

    assert caught.value.field == field
    assert problem in caught.value.problem


def test_an_env_value_is_not_in_the_message() -> None:
    with pytest.raises(SpecError) as caught:
        Process(name="p", argv=["sleep"], env={"TOKEN": b"s3cret"})  # type: ignore[dict-item]

    assert "s3cret" not in str(caught.value)


def test_the_program_is_looked_up_on_the_env_path(tmp_path: object) -> None:
    assert Process(name="p", argv=[sys.executable]).argv[0] == sys.executable
    with pytest.raises(SpecError):
        Process(name="p", argv=["sleep"], env={"PATH": "/nonexistent"})


def test_a_supervisor_takes_a_process_and_checks_its_name() -> None:
    with pytest.raises(SpecError, match="used by two siblings"):
        Supervisor(
            name="root",
            children=[
                Process(name="p", argv=["true"]),
                Process(name="p", argv=["true"]),
            ],
        )


def test_a_dynamic_template_appends_args_to_argv() -> None:
    pool = DynamicSupervisor(
        name="pool", template=Process(name="w", argv=["echo", "a"])
    )
    child = child_to_add(
        pool,
        "root/pool",
        None,
        ("b", "c"),
        None,
        count=0,
        fresh_name=lambda b: f"{b}-1",
    )

    assert isinstance(child, Process)
    assert (child.name, child.argv) == ("w-1", ("echo", "a", "b", "c"))


def test_a_dynamic_template_refuses_non_string_args() -> None:
    pool = DynamicSupervisor(name="pool", template=Process(name="w", argv=["echo"]))
    with pytest.raises(SpecError) as caught:
        child_to_add(pool, "root/pool", None, (3,), "x", count=0, fresh_name=str)

    assert caught.value.path == "root/pool/x"


def _script(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    "number", [signal.SIGCONT, signal.SIGWINCH, signal.SIGCHLD, signal.SIGURG]
)
def test_a_stop_signal_that_does_nothing_by_default_is_refused(number: int) -> None:
    with pytest.raises(SpecError) as caught:
        Process(name="p", argv=["sleep"], stop_signal=number)

    assert caught.value.field == "stop_signal"
    assert signal.Signals(number).name in caught.value.problem
    assert "would go on running until SIGKILL" in caught.value.problem


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP, 15])
def test_stop_signals_that_stop_a_program_are_taken(number: int) -> None:
    assert Process(name="p", argv=["sleep"], stop_signal=number).stop_signal == number


@pytest.mark.parametrize(
    ("program", "cwd", "found"),
    [
        # A relative path is the child's: resolved in its cwd, as subprocess does.
        ("./bin/run", "work", "work/./bin/run"),
        ("bin/run", "work", "work/bin/run"),
        ("../work/bin/run", "work", "work/../work/bin/run"),
        # Only in the tree's cwd, not the child's: refused.
        ("./here", "work", None),
        # No cwd: the tree's own (the test's tmp_path).
        ("./here", None, "./here"),
        ("bin/run", None, None),
        # An absolute path does not depend on cwd.
        ("ABS", "work", "ABS"),
    ],
)
def test_a_relative_program_is_found_in_the_spec_cwd(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    program: str,
    cwd: str | None,
    found: str | None,
) -> None:
    _script(tmp_path / "work" / "bin" / "run")
    absolute = _script(tmp_path / "here")
    monkeypatch.chdir(tmp_path)
    program = program.replace("ABS", str(absolute))
    found = None if found is None else found.replace("ABS", str(absolute))

    assert find_program(program, None, cwd) == found
    if found is None:
        with pytest.raises(SpecError, match="not an executable file"):
            Process(name="p", argv=[program], cwd=cwd)
    else:
        Process(name="p", argv=[program], cwd=cwd)


def test_the_repr_shows_no_env_value_and_no_argument() -> None:
    spec = Process(
        name="p", argv=["sleep", "--token=hunter2", "1"], env={"TOKEN": "s3cret"}
    )

    shown = repr(spec)

    assert "s3cret" not in shown
    assert "hunter2" not in shown
    assert "argv=('sleep', +2 args)" in shown
    assert "env={'TOKEN': ...}" in shown


async def test_a_spec_error_from_open_tree_shows_no_env_value() -> None:
    spec = Process(name="p", argv=["sleep", "--token=hunter2"], env={"TOKEN": "s3cret"})
    with pytest.raises(SpecError) as caught:
        async with open_tree(spec):  # type: ignore[arg-type]
            pass

    assert "Process(name='p'" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"argv": ["sleep", "a\0b"]}, "[1] holds a NUL byte"),
        ({"argv": ["sleep", 3]}, "[1] must be a string, got int"),
        ({"argv": ["sleep"], "env": {"K": "a\0b"}}, "['K'] holds a NUL byte"),
    ],
)
def test_nul_bytes_and_non_strings_are_told_apart(
    kwargs: dict[str, object], problem: str
) -> None:
    with pytest.raises(SpecError) as caught:
        Process(name="p", **kwargs)  # type: ignore[arg-type]

    assert caught.value.problem == problem
