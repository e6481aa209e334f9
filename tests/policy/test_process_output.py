"""Exit statuses as crash reasons, and output bytes as capped lines."""

from __future__ import annotations

import pytest

from supervisor._policy.process import LineSplitter, describe_exit, signal_name


@pytest.mark.parametrize(
    ("returncode", "text", "normal"),
    [
        (0, "exit_code=0", True),
        (3, "exit_code=3", False),
        (255, "exit_code=255", False),
        (-11, "signal=SIGSEGV", False),
        (-9, "signal=SIGKILL", False),
        (-15, "signal=SIGTERM", False),
    ],
)
def test_describe_exit(returncode: int, text: str, normal: bool) -> None:
    described = describe_exit(returncode)

    assert text == str(described)
    assert normal == described.normal


def test_a_signal_without_a_name() -> None:
    assert signal_name(77) == "signal 77"


def split(chunks: list[bytes], max_line: int = 8) -> tuple[list[tuple[str, bool]], int]:
    splitter = LineSplitter(max_line)
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    lines.extend(splitter.close())
    return lines, splitter.dropped


@pytest.mark.parametrize(
    ("chunks", "lines", "dropped"),
    [
        ([b"a\nb\n"], [("a", False), ("b", False)], 0),
        ([b"he", b"llo\nwor", b"ld\n"], [("hello", False), ("world", False)], 0),
        ([b"tail"], [("tail", False)], 0),
        ([b"\n\n"], [("", False), ("", False)], 0),
        ([b"crlf\r\n"], [("crlf", False)], 0),
        # cut at 8 bytes, the rest of the line dropped, the next line whole
        ([b"0123456789ab\nok\n"], [("01234567", True), ("ok", False)], 4),
        (
            [b"01234", b"56789", b"abc", b"\nok\n"],
            [("01234567", True), ("ok", False)],
            5,
        ),
        ([b"01234567\n"], [("01234567", False)], 0),
        ([b"\xff\xfeok\n"], [("\ufffd\ufffdok", False)], 0),
    ],
)
def test_split(
    chunks: list[bytes], lines: list[tuple[str, bool]], dropped: int
) -> None:
    assert (lines, dropped) == split(chunks)


def test_a_long_line_in_one_byte_chunks_costs_one_line() -> None:
    lines, dropped = split([b"x"] * 10_000 + [b"\n"])

    assert lines == [("x" * 8, True)]
    assert dropped == 10_000 - 8
