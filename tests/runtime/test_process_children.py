"""
`Process` children with real subprocesses: exits as crashes, stops that reach
the whole process group, output as events, dynamic supervisors. Real clock
(real processes), generous bounds.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
import trio
from structlog.testing import capture_logs

from supervisor import (
    Backoff,
    DynamicSupervisor,
    Jitter,
    Process,
    Reason,
    Restart,
    State,
    Supervisor,
    open_tree,
)
from tests._processes import alive, no_leftover_processes, wait_for

__all__ = ["no_leftover_processes"]  # the autouse fixture, imported to be used

QUICK = Backoff(initial=0.2, factor=1.0, max=0.2, jitter=Jitter.NONE)


def tree(*children: Process | DynamicSupervisor, intensity: int = 20) -> Supervisor:
    return Supervisor(
        name="root", children=children, backoff=QUICK, intensity=intensity
    )


async def test_a_non_zero_exit_is_a_crash_restarted_with_backoff() -> None:
    spec = tree(Process(name="p", argv=["sh", "-c", "sleep 0.2; exit 3"]))
    async with open_tree(spec) as t:
        await wait_for(lambda: t.snapshot().node("root/p").restarts >= 2)
        node = t.snapshot().node("root/p")

    assert node.last_exit is not None
    assert node.last_exit.reason is Reason.CRASH
    assert node.last_exit.exc_type == "supervisor.ProcessFailed"
    assert node.last_exit.exc_message == "root/p: the process ended with exit_code=3"
    assert node.process is not None
    assert dict(node.restarts_by_reason) == {"crash": node.restarts}


async def test_a_death_by_signal_says_which() -> None:
    spec = tree(Process(name="p", argv=["sh", "-c", "kill -SEGV $$"]))
    async with open_tree(spec) as t:
        await wait_for(lambda: t.snapshot().node("root/p").restarts >= 1)
        node = t.snapshot().node("root/p")

    assert node.last_exit is not None
    assert node.last_exit.exc_message == "root/p: the process ended with signal=SIGSEGV"


async def test_exit_zero_is_normal_and_a_transient_child_stays_down() -> None:
    spec = tree(Process(name="p", argv=["true"], restart=Restart.TRANSIENT))
    async with open_tree(spec) as t:
        await wait_for(lambda: t.snapshot().node("root/p").state is State.STOPPED)
        node = t.snapshot().node("root/p")

    assert node.last_exit is not None
    assert node.last_exit.reason is Reason.NORMAL
    assert node.process is not None
    assert node.process.exit == "exit_code=0"
    assert node.restarts == 0


async def test_a_process_that_ignores_sigterm_is_killed_after_its_shutdown() -> None:
    script = "trap '' TERM; echo ready; while :; do sleep 0.1; done"
    spec = tree(Process(name="p", argv=["sh", "-c", script], shutdown=0.5))
    with capture_logs() as logs:
        async with open_tree(spec) as t:
            await wait_for(lambda: t.snapshot().node("root/p").process.output)  # type: ignore[union-attr]
            began = trio.current_time()
        took = trio.current_time() - began
        node = t.snapshot().node("root/p")

    assert node.process is not None
    assert node.process.killed
    assert node.process.exit == "signal=SIGKILL"
    assert node.state is State.STOPPED
    assert 0.5 <= took < 3.0
    assert [e["event"] for e in logs if e["event"] == "process_killed"] == [
        "process_killed"
    ]
    assert "child_unstopped" not in [e["event"] for e in logs]


async def test_a_process_that_honours_sigterm_is_not_killed() -> None:
    spec = tree(Process(name="p", argv=["sleep", "100"], shutdown=5.0))
    async with open_tree(spec) as t:
        await wait_for(lambda: t.snapshot().node("root/p").state is State.RUNNING)
        began = trio.current_time()
    node = t.snapshot().node("root/p")

    assert trio.current_time() - began < 2.0
    assert node.process is not None
    assert node.process.exit == "signal=SIGTERM"
    assert not node.process.killed
    assert node.last_exit is not None
    assert node.last_exit.reason is Reason.SHUTDOWN


async def test_a_custom_stop_signal() -> None:
    script = "trap 'echo got INT; exit 0' INT; echo up; while :; do sleep 0.05; done"
    spec = tree(Process(name="p", argv=["sh", "-c", script], stop_signal=signal.SIGINT))
    async with open_tree(spec) as t:
        await wait_for(lambda: t.snapshot().node("root/p").process.output)  # type: ignore[union-attr]
    node = t.snapshot().node("root/p")

    assert node.process is not None
    assert ("stdout", "got INT") in node.process.output
    assert node.process.exit == "exit_code=0"


# A shell that starts grandchildren (one ignores SIGTERM) and prints their PIDs.
GRANDCHILDREN = "sleep 100 & echo $!; sh -c \"trap '' TERM; while :; do sleep 0.1; done\" & echo $!; wait"


def pids_of(t: object, path: str) -> list[int]:
    node = t.snapshot().node(path)  # type: ignore[attr-defined]
    return [int(line) for _, line in node.process.output if line.isdigit()]


async def running_grandchildren(t: object) -> list[int]:
    await wait_for(lambda: len(pids_of(t, "root/sh")) == 2)
    pids = pids_of(t, "root/sh")
    assert all(alive(pid) for pid in pids)
    return pids


async def test_a_stop_ends_the_whole_group() -> None:
    spec = tree(Process(name="sh", argv=["sh", "-c", GRANDCHILDREN], shutdown=0.5))
    async with open_tree(spec) as t:
        pids = await running_grandchildren(t)

    assert not any(alive(pid) for pid in pids)


async def test_a_cancelled_tree_ends_the_whole_group() -> None:
    spec = tree(Process(name="sh", argv=["sh", "-c", GRANDCHILDREN], shutdown=0.5))
    pids: list[int] = []
    with trio.CancelScope() as scope:
        async with open_tree(spec) as t:
            pids = await running_grandchildren(t)
            scope.cancel()
            await trio.sleep_forever()

    assert scope.cancelled_caught
    assert pids
    assert not any(alive(pid) for pid in pids)


async def test_keyboard_interrupt_ends_the_whole_group() -> None:
    spec = tree(Process(name="sh", argv=["sh", "-c", GRANDCHILDREN], shutdown=0.5))
    pids: list[int] = []

    async def interrupted() -> None:
        async with open_tree(spec) as t:
            pids.extend(await running_grandchildren(t))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await interrupted()

    assert pids
    assert not any(alive(pid) for pid in pids)


async def test_grandchildren_left_by_a_leader_that_exited_are_stopped() -> None:
    script = "sleep 100 & echo $!; exit 4"
    spec = tree(
        Process(name="sh", argv=["sh", "-c", script], shutdown=0.5), intensity=1
    )
    async with open_tree(spec) as t:
        await wait_for(lambda: pids_of(t, "root/sh"))
        pid = pids_of(t, "root/sh")[0]
        await wait_for(lambda: not alive(pid))


async def test_a_supervisor_that_gives_up_leaves_no_process() -> None:
    inner = Supervisor(
        name="inner",
        intensity=0,
        backoff=QUICK,
        children=[
            Process(name="sh", argv=["sh", "-c", GRANDCHILDREN], shutdown=0.5),
            Process(name="bad", argv=["sh", "-c", "sleep 0.5; exit 1"]),
        ],
    )
    spec = Supervisor(name="root", children=[inner], backoff=QUICK, intensity=5)
    async with open_tree(spec) as t:
        await wait_for(lambda: len(pids_of(t, "root/inner/sh")) == 2)
        first = pids_of(t, "root/inner/sh")
        await wait_for(lambda: t.snapshot().node("root/inner").restarts >= 1)
        await wait_for(lambda: not any(alive(pid) for pid in first))


async def test_output_lines_are_events_bound_with_path_and_stream() -> None:
    script = "echo one; echo two >&2; printf 'no newline'"
    spec = tree(Process(name="p", argv=["sh", "-c", script], restart=Restart.TEMPORARY))
    with capture_logs() as logs:
        async with open_tree(spec) as t:
            await wait_for(lambda: t.snapshot().node("root/p").state is State.STOPPED)
    lines = [
        (e["path"], e["stream"], e["line"])
        for e in logs
        if e["event"] == "process_output"
    ]

    assert sorted(lines) == [
        ("root/p", "stderr", "two"),
        ("root/p", "stdout", "no newline"),
        ("root/p", "stdout", "one"),
    ]


async def test_long_lines_are_cut_and_the_last_lines_kept() -> None:
    script = (
        f"{sys.executable} -c \"print('x' * 100000); [print(i) for i in range(50)]\""
    )
    spec = tree(
        Process(
            name="p",
            argv=["sh", "-c", script],
            max_line=64,
            keep_lines=5,
            restart=Restart.TEMPORARY,
        )
    )
    with capture_logs() as logs:
        async with open_tree(spec) as t:
            await wait_for(lambda: t.snapshot().node("root/p").state is State.STOPPED)
    node = t.snapshot().node("root/p")
    first = next(e for e in logs if e["event"] == "process_output")

    assert first["line"] == "x" * 64
    assert first["truncated"] is True
    assert node.process is not None
    assert [line for _, line in node.process.output] == ["45", "46", "47", "48", "49"]


async def test_a_chatty_process_is_drained_and_never_blocks() -> None:
    # 2 MB on each stream: far more than a pipe holds; it exits only if drained.
    script = "head -c 2000000 /dev/zero | tr '\\0' 'a'; head -c 2000000 /dev/zero >&2; exit 0"
    spec = tree(
        Process(
            name="p", argv=["sh", "-c", script], restart=Restart.TEMPORARY, max_line=128
        )
    )
    async with open_tree(spec) as t:
        await wait_for(lambda: t.snapshot().node("root/p").state is State.STOPPED, 20)

    assert t.snapshot().node("root/p").last_exit.reason is Reason.NORMAL  # type: ignore[union-attr]


async def test_a_process_under_a_dynamic_supervisor_gets_the_extra_args() -> None:
    pool = DynamicSupervisor(
        name="pool",
        backoff=QUICK,
        template=Process(name="echo", argv=["sh", "-c", 'echo "$@"; sleep 100', "sh"]),
    )
    async with open_tree(tree(pool)) as t:
        path = await t.start_child("root/pool", args=("hello", "world"))
        await wait_for(lambda: t.snapshot().node(path).process.output)  # type: ignore[union-attr]
        node = t.snapshot().node(path)
        await t.terminate_child(path)

    assert node.kind == "process"
    assert node.process is not None
    assert node.process.output == (("stdout", "hello world"),)


async def test_the_snapshot_serialises_the_process() -> None:
    spec = tree(Process(name="p", argv=["sh", "-c", "echo hi; sleep 100"]))
    async with open_tree(spec) as t:
        await wait_for(lambda: t.snapshot().node("root/p").process.output)  # type: ignore[union-attr]
        data = t.snapshot().as_dict()["root"]["children"][0]

    assert data["kind"] == "process"
    assert data["process"]["output"] == [{"stream": "stdout", "line": "hi"}]
    assert data["process"]["exit"] is None
    assert isinstance(data["process"]["pid"], int)


async def test_a_relative_program_runs_in_its_cwd(tmp_path: Path) -> None:
    program = tmp_path / "bin" / "run"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\necho ran in $PWD\n")
    program.chmod(0o755)
    spec = Supervisor(
        name="root",
        children=[
            Process(
                name="p", argv=["./bin/run"], cwd=tmp_path, restart=Restart.TEMPORARY
            )
        ],
    )
    async with open_tree(spec) as t:
        await wait_for(lambda: t.snapshot().node("root/p").process.exit)  # type: ignore[union-attr]
        process = t.snapshot().node("root/p").process

    assert process is not None
    assert process.exit == "exit_code=0"
    assert process.output == (("stdout", f"ran in {tmp_path}"),)
