"""
systemd's notify protocol (``sd_notify(3)``), as data: one datagram in, one
`Notification` out, and whether its sender may speak for a child.

Pure: the socket, the credentials and the process facts are read by the
runtime (`supervisor._runtime.notify_socket`) and passed in. A datagram is
newline-separated ``KEY=VALUE`` assignments, UTF-8, at most `MAX_DATAGRAM`
bytes (systemd reads one pipe buffer). Keys this library does not act on are
kept by name in ``unknown`` (systemd ignores them too); lines that are not an
assignment, or carry a value that cannot be read, are counted in
``malformed`` and never stop the rest of the datagram from being applied
(systemd applies what it can read).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

#: systemd's NOTIFY_BUFFER_MAX: a longer datagram is truncated, hence refused.
MAX_DATAGRAM = 4096
#: STATUS= text kept, in characters (a line on a dashboard, not a log).
MAX_STATUS = 256
#: Unknown keys kept by name per datagram (the rest are only counted).
MAX_UNKNOWN = 8


@attrs.frozen(kw_only=True)
class Notification:
    """What one datagram says; every field is None/False when it says nothing of it."""

    ready: bool = False  # READY=1
    stopping: bool = False  # STOPPING=1
    reloading: bool = False  # RELOADING=1
    watchdog: bool = False  # WATCHDOG=1: a heartbeat
    trigger: bool = False  # WATCHDOG=trigger: "restart me"
    watchdog_usec: int | None = None  # WATCHDOG_USEC=: its new heartbeat timeout
    extend_timeout_usec: int | None = None  # EXTEND_TIMEOUT_USEC=
    status: str | None = None  # STATUS=, cleaned and capped
    errno: int | None = None  # ERRNO=
    barrier: bool = False  # BARRIER=1 (its descriptor is the runtime's to close)
    mainpid: int | None = None  # MAINPID= (recorded, not followed)
    unknown: tuple[str, ...] = ()  # keys not understood, at most MAX_UNKNOWN
    malformed: int = 0  # lines or values that could not be read
    problem: str | None = None  # why the whole datagram was refused, if it was

    @property
    def says_nothing(self) -> bool:
        """Nothing to act on in it: refused, or only unknown and unreadable lines."""
        return attrs.evolve(self, unknown=(), malformed=0, problem=None) == _NOTHING


_NOTHING = Notification()


def _refused(problem: str) -> Notification:
    return Notification(problem=problem, malformed=1)


def _usec(value: str) -> int | None:
    # systemd's safe_atou64: decimal digits only, no sign, no spaces.
    # 20 digits hold any uint64: a longer number is refused without converting it.
    if not value.isdigit() or not value.isascii() or len(value) > 20:
        return None
    return int(value)


def _clean_status(value: str) -> str:
    # A status is shown on a dashboard and in /status: no control characters.
    text = "".join(c if c.isprintable() else " " for c in value)
    return text[:MAX_STATUS]


def parse_notification(data: bytes) -> Notification:
    """The `Notification` *data* (one datagram) carries."""
    if len(data) > MAX_DATAGRAM:
        return _refused(f"datagram of more than {MAX_DATAGRAM} bytes")
    if b"\0" in data:
        return _refused("datagram with a NUL byte")  # systemd refuses these too
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _refused("datagram that is not UTF-8")
    fields: dict[str, object] = {}
    unknown: list[str] = []
    malformed = 0
    for line in text.split("\n"):
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            malformed += 1
            continue
        if not _apply(fields, key, value):
            if key in _KEYS:
                malformed += 1
            elif len(unknown) < MAX_UNKNOWN:
                unknown.append(_clean_status(key)[:64])
    return Notification(**fields, unknown=tuple(unknown), malformed=malformed)  # type: ignore[arg-type]


Reader = Callable[[str], "tuple[str, object] | None"]


def _flag(field: str) -> Reader:
    return lambda value: (field, True) if value == "1" else None


#: systemd's usec_t is a uint64 whose largest value means "infinity"; a
#: finite time is below it (safe_atou64 refuses what does not fit).
USEC_INFINITY = 2**64 - 1
#: systemd's ERRNO_MAX: the largest errno it accepts in ERRNO=.
ERRNO_MAX = 4095


def _count(field: str, minimum: int = 0, maximum: int = USEC_INFINITY - 1) -> Reader:
    def read(value: str) -> tuple[str, object] | None:
        number = _usec(value)
        if number is None or not minimum <= number <= maximum:
            return None
        return (field, number)

    return read


_WATCHDOG: dict[str, tuple[str, object]] = {
    "1": ("watchdog", True),
    "trigger": ("trigger", True),
}

#: Key -> how its value becomes a field of `Notification` (None: unreadable).
_READERS: dict[str, Reader] = {
    "READY": _flag("ready"),
    "STOPPING": _flag("stopping"),
    "RELOADING": _flag("reloading"),
    "BARRIER": _flag("barrier"),
    "WATCHDOG": _WATCHDOG.get,
    "WATCHDOG_USEC": _count("watchdog_usec", minimum=1),
    "EXTEND_TIMEOUT_USEC": _count("extend_timeout_usec"),
    "ERRNO": _count("errno", maximum=ERRNO_MAX),
    "MAINPID": _count("mainpid", minimum=1),
    "STATUS": lambda value: ("status", _clean_status(value)),
}


def _apply(fields: dict[str, object], key: str, value: str) -> bool:
    """Record ``key=value`` in *fields*; False if it is unknown or its value unreadable."""
    reader = _READERS.get(key)
    found = None if reader is None else reader(value)
    if found is None:
        return False
    fields[found[0]] = found[1]
    return True


_KEYS = frozenset(_READERS)


def sender_allowed(
    sender_pid: int | None,
    child_pid: int,
    *,
    session: int | None = None,
    ancestry: Sequence[int] = (),
) -> bool:
    """
    May a datagram from *sender_pid* speak for the child *child_pid*?

    Only the child itself or one of its descendants may (systemd's
    ``NotifyAccess=all`` within the service's control group). The child
    leads a session of its own, so a sender in *session* ``child_pid`` is
    one; so is a sender with *child_pid* in its *ancestry* (its parents,
    nearest first: a descendant that left the session). The runtime reads
    both; a sender without credentials, or gone before it could be read, is
    refused.
    """
    if sender_pid is None or sender_pid <= 0:
        return False
    return child_pid in (sender_pid, session) or child_pid in ancestry


def encode_notification(**fields: str) -> bytes:
    """A datagram for the tree's own notifications (``READY="1"``, ``STATUS=...``)."""
    lines = []
    for key, value in fields.items():
        clean = value.replace("\n", " ")
        lines.append(f"{key}={clean}")
    return "\n".join(lines).encode("utf-8")
