"""What systemd's environment asks of the tree, and the STATUS= line: pure."""

from __future__ import annotations

import pytest

from supervisor._policy.states import State
from supervisor._policy.systemd import SystemdSettings, settings, summary


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"NOTIFY_SOCKET": ""}, None),
        ({"NOTIFY_SOCKET": "vsock:2:1234"}, None),
        (
            {"NOTIFY_SOCKET": "/run/systemd/notify"},
            SystemdSettings("/run/systemd/notify", None),
        ),
        ({"NOTIFY_SOCKET": "@sd"}, SystemdSettings("\0sd", None)),
        (
            {"NOTIFY_SOCKET": "@sd", "WATCHDOG_USEC": "4000000"},
            SystemdSettings("\0sd", 2.0),
        ),
        (
            {"NOTIFY_SOCKET": "@sd", "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "42"},
            SystemdSettings("\0sd", 2.0),
        ),
        # another process's watchdog, or an unreadable one: no beats
        (
            {"NOTIFY_SOCKET": "@sd", "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "7"},
            SystemdSettings("\0sd", None),
        ),
        ({"NOTIFY_SOCKET": "@sd", "WATCHDOG_USEC": "0"}, SystemdSettings("\0sd", None)),
        (
            {"NOTIFY_SOCKET": "@sd", "WATCHDOG_USEC": "-1"},
            SystemdSettings("\0sd", None),
        ),
        (
            {"NOTIFY_SOCKET": "@sd", "WATCHDOG_USEC": "2s"},
            SystemdSettings("\0sd", None),
        ),
    ],
)
def test_settings(environ: dict[str, str], expected: SystemdSettings | None) -> None:
    assert expected == settings(environ, pid=42)


@pytest.mark.parametrize(
    ("states", "crashes", "line"),
    [
        ({}, 0, "0/0 children running"),
        ({State.RUNNING: 3}, 0, "3/3 children running"),
        ({State.RUNNING: 3}, 1, "3/3 children running; 1 crash"),
        (
            {State.RUNNING: 4, State.BACKOFF: 1, State.FAILED: 1},
            7,
            "4/6 children running, 1 backoff, 1 failed; 7 crashes",
        ),
        (
            {State.STOPPED: 2, State.UNSTOPPED: 1},
            0,
            "0/3 children running, 1 unstopped",
        ),
    ],
)
def test_summary(states: dict[State, int], crashes: int, line: str) -> None:
    assert line == summary(states, crashes)
