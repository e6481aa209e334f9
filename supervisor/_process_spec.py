"""
`Process`: the spec of a child that is an OS process. Frozen, validated at
construction, like every spec; it goes wherever a `Child` can (a supervisor's
children, a dynamic supervisor's template). Its runner is `_process`.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import types
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ._errors import SpecError
from ._policy.process import MAX_LINE, MAX_LINES_PER_SECOND
from ._safe import safe_repr
from ._spec import LeafSpec, Restart, _check_restart_significance
from ._validators import (
    check_bool,
    check_enum,
    check_name,
    integer,
    positive,
    spec_path,
)

_VALID_SIGNALS = frozenset(signal.valid_signals())
#: Signals whose default action is to do nothing (or to continue): as a stop
#: signal, a program that does not handle them would only be SIGKILLed once
#: its shutdown is over, never asked to stop.
_IGNORED_BY_DEFAULT = frozenset(
    getattr(signal, name)
    for name in ("SIGCONT", "SIGWINCH", "SIGCHLD", "SIGURG")
    if hasattr(signal, name)
)


def _argv_tuple(value: Any) -> Any:
    # A str is a sequence too: tuple("redis-server") would be 12 arguments.
    return tuple(value) if isinstance(value, list | tuple) else value


def _check_argv(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple) or not value:
        raise SpecError(
            spec_path(instance),
            attribute.name,
            "must be a non-empty list or tuple of strings (the program, then its "
            f"arguments), got {type(value).__name__}",
        )
    for index, item in enumerate(value):
        if not isinstance(item, str):
            # Arguments may hold secrets: named by position and type only.
            raise SpecError(
                spec_path(instance),
                attribute.name,
                f"[{index}] must be a string, got {type(item).__name__}",
            )
        if "\0" in item:
            raise SpecError(
                spec_path(instance), attribute.name, f"[{index}] holds a NUL byte"
            )
    if not value[0]:
        raise SpecError(
            spec_path(instance), attribute.name, "[0] (the program) is empty"
        )


def _check_env(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise SpecError(
            spec_path(instance),
            attribute.name,
            f"must be a mapping of str to str, or None, got {type(value).__name__}",
        )
    for key, item in value.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise SpecError(
                spec_path(instance),
                attribute.name,
                f"has a key that is not a variable name: {safe_repr(key, 40)}",
            )
        if not isinstance(item, str):
            # Values are where secrets go: only the key is named.
            raise SpecError(
                spec_path(instance),
                attribute.name,
                f"[{key!r}] must be a string, got {type(item).__name__}",
            )
        if "\0" in item:
            raise SpecError(
                spec_path(instance), attribute.name, f"[{key!r}] holds a NUL byte"
            )


def _env_repr(value: Mapping[str, str] | None) -> str:
    # Values are where secrets go: a repr (in a SpecError, a log) names keys only.
    if value is None:
        return "None"
    return "{" + ", ".join(f"{key!r}: ..." for key in value) + "}"


def _argv_repr(value: tuple[str, ...]) -> str:
    # Arguments may hold secrets too (a --password=...): the program and a count.
    if not isinstance(value, tuple) or not value:
        return safe_repr(value, 40)
    return f"({safe_repr(value[0], 80)}, +{len(value) - 1} args)"


def _frozen_env(value: Any) -> Any:
    return types.MappingProxyType(dict(value)) if isinstance(value, Mapping) else value


def _check_cwd(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str | os.PathLike):
        raise SpecError(
            spec_path(instance),
            attribute.name,
            f"must be a path or None, got {safe_repr(value)}",
        )
    if not os.path.isdir(value):
        raise SpecError(
            spec_path(instance),
            attribute.name,
            f"must be an existing directory, got {safe_repr(os.fspath(value))}",
        )


def _check_signal(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(
            spec_path(instance),
            attribute.name,
            f"must be a signal (signal.SIGTERM), got {safe_repr(value)}",
        )
    if value not in _VALID_SIGNALS or value in (signal.SIGKILL, signal.SIGSTOP):
        raise SpecError(
            spec_path(instance),
            attribute.name,
            f"must be a signal a program can handle, got {safe_repr(value)}"
            " (SIGKILL comes by itself once shutdown is over)",
        )
    if value in _IGNORED_BY_DEFAULT:
        raise SpecError(
            spec_path(instance),
            attribute.name,
            f"must be a signal that stops a program by default, got"
            f" {signal.Signals(value).name}: a program that does not handle it"
            " would go on running until SIGKILL (use SIGTERM, SIGINT, SIGQUIT,"
            " SIGHUP, SIGUSR1...)",
        )


def _signal(value: Any) -> Any:
    # signal.SIGTERM is an IntEnum already; a bare 15 becomes one.
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return signal.Signals(value)
        except ValueError:
            return value
    return value


def find_program(
    program: str,
    env: Mapping[str, str] | None,
    cwd: str | os.PathLike[str] | None = None,
) -> str | None:
    """The path *program* (argv[0]) runs, on the child's PATH; None if there is none."""
    if os.sep in program:
        # A relative path is the child's, resolved in its cwd (as subprocess
        # does: it changes directory, then executes).
        if cwd is not None:
            program = os.path.join(os.fspath(cwd), program)
        return (
            program if os.access(program, os.X_OK) and os.path.isfile(program) else None
        )
    path = (env or {}).get("PATH", os.environ.get("PATH", os.defpath))
    return shutil.which(program, path=path)


@attrs.frozen(kw_only=True)
class Process(LeafSpec):
    """
    A child that is an OS process: ``argv`` run in a session (and process
    group) of its own.

    Exit status 0 is a normal exit; any other status, or a death by signal,
    is a crash (``exit_code=3``, ``signal=SIGSEGV``). A stop sends
    *stop_signal* to the whole process group, then SIGKILL to the group once
    *shutdown* seconds passed. Its stdout and stderr become ``process_output``
    events, one per line (cut at *max_line* bytes); the last *keep_lines*
    lines are kept for the snapshot. At most *max_lines_per_second* lines
    become events (a burst of that many, then that many a second); the rest
    are counted as dropped (snapshot, metrics, ``process_output_dropped``).

    *env* is added to the tree's environment (None: inherited as it is).
    With *notify*, the process gets a ``NOTIFY_SOCKET`` and speaks systemd's
    notify protocol: it counts as started at ``READY=1`` (within
    *start_timeout*), ``WATCHDOG=1`` is a heartbeat (with
    *heartbeat_timeout*, given to it as ``WATCHDOG_USEC``), ``STATUS=`` is
    shown in the snapshot. Without *notify* it counts as started once
    spawned. *max_rss* (bytes) restarts it when the resident memory of the
    process and its descendants goes over it (read with psutil).
    """

    name: str = attrs.field(validator=check_name)
    argv: tuple[str, ...] = attrs.field(
        converter=_argv_tuple, validator=_check_argv, repr=_argv_repr
    )
    env: Mapping[str, str] | None = attrs.field(
        default=None, converter=_frozen_env, validator=_check_env, repr=_env_repr
    )
    cwd: str | os.PathLike[str] | None = attrs.field(default=None, validator=_check_cwd)
    restart: Restart = attrs.field(
        default=Restart.PERMANENT, validator=check_enum(Restart)
    )
    shutdown: float = attrs.field(default=5.0, validator=positive())
    start_timeout: float = attrs.field(default=30.0, validator=positive())
    stop_signal: signal.Signals = attrs.field(
        default=signal.SIGTERM, converter=_signal, validator=_check_signal
    )
    heartbeat_timeout: float | None = attrs.field(
        default=None, validator=positive(optional=True)
    )
    notify: bool = attrs.field(default=False, validator=check_bool)
    significant: bool = attrs.field(default=False, validator=check_bool)
    #: Run on one instance of the fleet only (needs etcd; see docs/fleet.md).
    singleton: bool = attrs.field(default=False, validator=check_bool)
    max_rss: int | None = attrs.field(
        default=None, validator=integer(minimum=1, optional=True)
    )
    max_line: int = attrs.field(default=MAX_LINE, validator=integer(minimum=16))
    keep_lines: int = attrs.field(default=20, validator=integer(minimum=0))
    max_lines_per_second: int = attrs.field(
        default=MAX_LINES_PER_SECOND, validator=integer(minimum=1)
    )
    depth: int = attrs.field(init=False, default=1, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_restart_significance(self)
        if self.heartbeat_timeout is not None and not self.notify:
            raise SpecError(
                spec_path(self),
                "heartbeat_timeout",
                "needs notify=True: a process beats by sending WATCHDOG=1",
            )
        if self.notify and not sys.platform.startswith("linux"):
            raise SpecError(
                spec_path(self),
                "notify",
                "needs Linux (the sender's credentials, SCM_CREDENTIALS, are Linux's)",
            )
        if find_program(self.argv[0], self.env, self.cwd) is None:
            raise SpecError(
                spec_path(self),
                "argv",
                f"[0] {self.argv[0]!r} is not an executable file, nor found on PATH",
            )

    def from_template(self, name: str, args: Sequence[Any]) -> Process:
        return attrs.evolve(self, name=name, argv=(*self.argv, *args))
