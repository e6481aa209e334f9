"""
The pure parts of running an OS process as a child: what its exit status
means (`describe_exit`), and how its output becomes lines (`LineSplitter`).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import attrs

#: Longest output line kept, in bytes; the rest of a longer line is dropped.
MAX_LINE = 4096


@attrs.frozen
class ExitDescription:
    """How a process ended, as the snapshot and the crash say it."""

    exit_code: int | None  # its exit status, if it exited
    signal: str | None  # the signal that killed it (``SIGSEGV``), if one did

    @property
    def normal(self) -> bool:
        return self.exit_code == 0

    def __str__(self) -> str:
        if self.signal is not None:
            return f"signal={self.signal}"
        return f"exit_code={self.exit_code}"


def signal_name(number: int) -> str:
    """``SIGSEGV`` for 11; ``signal 77`` for a number the platform has no name for."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def describe_exit(returncode: int) -> ExitDescription:
    """*returncode* as `subprocess` gives it: >= 0 an exit status, -N killed by signal N."""
    if returncode < 0:
        return ExitDescription(None, signal_name(-returncode))
    return ExitDescription(returncode, None)


class LineSplitter:
    """
    Bytes of one output stream in, complete lines out (without their newline).

    A line longer than *max_line* bytes is cut there and marked truncated;
    the rest of it, up to the next newline, is dropped and counted in
    ``dropped``: a program that writes a megabyte without a newline costs one
    event, not a megabyte of buffer. Bytes that are not UTF-8 are replaced.
    """

    __slots__ = ("_buffer", "_skipping", "dropped", "max_line")

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        # Inside the dropped rest of a line that was cut.
        self._skipping = False
        self.dropped = 0

    def feed(self, data: bytes | bytearray) -> Iterator[tuple[str, bool]]:
        """The lines *data* completes, as ``(text, truncated)``."""
        start = 0
        end = len(data)
        while start < end:
            newline = data.find(b"\n", start)
            stop = end if newline < 0 else newline
            if self._skipping:
                self.dropped += stop - start
            else:
                room = self.max_line - len(self._buffer)
                piece = data[start:stop]
                if len(piece) > room:
                    self._buffer += piece[:room]
                    self.dropped += len(piece) - room
                    yield self._take(), True
                    self._skipping = True
                else:
                    self._buffer += piece
            if newline < 0:
                return
            if self._skipping:
                self._skipping = False
            else:
                yield self._take(), False
            start = newline + 1

    def close(self) -> Iterator[tuple[str, bool]]:
        """The last line, if the stream ended without a newline."""
        if self._buffer:
            yield self._take(), False
        self._skipping = False

    def _take(self) -> str:
        line = self._buffer.decode("utf-8", errors="replace").rstrip("\r")
        self._buffer.clear()
        return line


#: Output lines of one child logged per second, by default; the rest are counted.
MAX_LINES_PER_SECOND = 1000


class LineBudget:
    """
    How many output lines of one child may become events: a token bucket of
    *rate* lines per second that holds at most one second's worth (a burst
    of *rate* lines, then *rate* a second). A line over the budget is counted
    in ``dropped`` instead: a program that writes as fast as it can (``yes``)
    must not turn the tree's event loop into a log writer.
    """

    __slots__ = ("_at", "_tokens", "dropped", "rate")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self._tokens = rate
        self._at = now
        self.dropped = 0

    def allow(self, now: float) -> bool:
        """Whether one more line may be logged at *now* (seconds, any monotonic clock)."""
        elapsed = now - self._at
        if elapsed > 0:
            self._tokens = min(self.rate, self._tokens + elapsed * self.rate)
            self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        self.dropped += 1
        return False
