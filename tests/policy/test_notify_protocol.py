"""The sd_notify datagram parser and the sender filter: bytes and credentials in, messages out."""

from __future__ import annotations

import pytest

from supervisor._policy.notify import (
    MAX_DATAGRAM,
    MAX_STATUS,
    MAX_UNKNOWN,
    Notification,
    encode_notification,
    parse_notification,
    sender_allowed,
)

CASES = [
    (b"READY=1", Notification(ready=True)),
    (
        b"READY=1\nSTATUS=serving 3 clients\n",
        Notification(ready=True, status="serving 3 clients"),
    ),
    (b"WATCHDOG=1", Notification(watchdog=True)),
    (b"WATCHDOG=trigger", Notification(trigger=True)),
    (b"WATCHDOG_USEC=2500000", Notification(watchdog_usec=2_500_000)),
    (b"EXTEND_TIMEOUT_USEC=10000000", Notification(extend_timeout_usec=10_000_000)),
    (b"STOPPING=1", Notification(stopping=True)),
    (b"RELOADING=1", Notification(reloading=True)),
    (b"ERRNO=2", Notification(errno=2)),
    (b"BARRIER=1", Notification(barrier=True)),
    (b"MAINPID=4242", Notification(mainpid=4242)),
    (b"STATUS=", Notification(status="")),
    (b"STATUS=a=b=c", Notification(status="a=b=c")),
    (b"STATUS=tab\there\r", Notification(status="tab here ")),
    (b"", Notification()),
    (b"\n\n", Notification()),
    # unknown keys are named, not acted on
    (b"FDSTORE=1\nREADY=1", Notification(ready=True, unknown=("FDSTORE",))),
    # unreadable values and lines are counted; the rest still applies
    (b"READY=yes\nWATCHDOG=1", Notification(watchdog=True, malformed=1)),
    (b"WATCHDOG=2", Notification(malformed=1)),
    (b"WATCHDOG_USEC=0", Notification(malformed=1)),
    (b"WATCHDOG_USEC=-5", Notification(malformed=1)),
    (b"WATCHDOG_USEC= 5", Notification(malformed=1)),
    (b"EXTEND_TIMEOUT_USEC=1e6", Notification(malformed=1)),
    (b"ERRNO=x", Notification(malformed=1)),
    # systemd's ranges: a finite usec_t (below its infinity), an errno up to ERRNO_MAX
    (b"ERRNO=4095", Notification(errno=4095)),
    (b"ERRNO=4096", Notification(malformed=1)),
    (b"ERRNO=99999999999999999999", Notification(malformed=1)),
    (b"WATCHDOG_USEC=18446744073709551614", Notification(watchdog_usec=2**64 - 2)),
    (b"WATCHDOG_USEC=18446744073709551615", Notification(malformed=1)),
    (b"WATCHDOG_USEC=" + b"9" * 40, Notification(malformed=1)),
    (b"EXTEND_TIMEOUT_USEC=18446744073709551616", Notification(malformed=1)),
    (b"no equals sign\nREADY=1", Notification(ready=True, malformed=1)),
    (b"=1", Notification(malformed=1)),
    # refused whole
    (b"READY=1\0", Notification(malformed=1, problem="datagram with a NUL byte")),
    (
        b"STATUS=\xff\xfe",
        Notification(malformed=1, problem="datagram that is not UTF-8"),
    ),
]


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_parse(data: bytes, expected: Notification) -> None:
    assert expected == parse_notification(data)


def test_a_datagram_over_the_buffer_is_refused() -> None:
    parsed = parse_notification(b"STATUS=" + b"x" * MAX_DATAGRAM)

    assert parsed.problem == f"datagram of more than {MAX_DATAGRAM} bytes"
    assert parsed.says_nothing


def test_a_status_is_capped() -> None:
    assert len(parse_notification(b"STATUS=" + b"y" * 1000).status or "") == MAX_STATUS


def test_unknown_keys_kept_are_bounded() -> None:
    data = b"\n".join(b"K%d=1" % i for i in range(50))

    assert len(parse_notification(data).unknown) == MAX_UNKNOWN


@pytest.mark.parametrize(
    ("data", "says_nothing"),
    [
        (b"READY=1", False),
        (b"STATUS=", False),
        (b"FOO=1", True),
        (b"garbage", True),
        (b"\xff", True),
        (b"", True),
    ],
)
def test_says_nothing(data: bytes, says_nothing: bool) -> None:
    assert says_nothing == parse_notification(data).says_nothing


@pytest.mark.parametrize(
    ("sender", "child", "session", "ancestry", "allowed"),
    [
        (100, 100, None, (), True),  # the child itself
        (101, 100, 100, (), True),  # in the child's session
        (101, 100, None, (100, 1), True),  # its child, which left the session
        (102, 100, 102, (101, 100, 1), True),  # a grandchild, the same
        (200, 100, 1, (1,), False),  # a stranger
        (200, 100, None, (), False),  # a sender gone before it could be read
        (None, 100, 100, (100,), False),  # no credentials
        (0, 100, 100, (), False),
    ],
)
def test_sender_allowed(
    sender: int | None,
    child: int,
    session: int | None,
    ancestry: tuple[int, ...],
    allowed: bool,
) -> None:
    assert allowed == sender_allowed(sender, child, session=session, ancestry=ancestry)


def test_encode_round_trips() -> None:
    data = encode_notification(READY="1", STATUS="3 running,\nnone failed")

    assert data == b"READY=1\nSTATUS=3 running, none failed"
    assert parse_notification(data) == Notification(
        ready=True, status="3 running, none failed"
    )
