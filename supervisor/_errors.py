"""
Every error the library raises on purpose.

    SupervisorError
    ├── SpecError (ValueError)           a spec is wrong; names the tree path and field
    ├── TooManyRestarts                  restart intensity exceeded; carries the last failure
    ├── ControlError                     a control call cannot be done; .path names the node
    │   ├── ChildLookupError (LookupError)   no node at that tree path            (HTTP 404)
    │   ├── ChildExists                      start_child with a name already in use (409)
    │   ├── ChildRunning                     the call needs a stopped child         (409)
    │   ├── TooManyChildren                  a dynamic supervisor is at .limit      (409)
    │   ├── NotSupported                     the call makes no sense for that node  (409)
    │   └── TreeNotRunning                   the tree, or that supervisor, is stopping (409)
    ├── HttpBindError                    the HTTP server cannot listen on its address
    ├── BadCheckResult (TypeError)       a check returned neither None nor a valid Observation
    └── NotInChild (RuntimeError)        a child-only call made outside a supervised child

Each carries what a program needs to act on it without parsing the message:
``.path`` (and ``.field`` of a `SpecError`, ``.limit`` of a `TooManyChildren`,
``.intensity``/``.period``/``.last`` of a `TooManyRestarts`, ``.address`` of an
`HttpBindError`, ``.check`` of a `BadCheckResult`). The HTTP control route maps
each `ControlError` to its status code in one table (`supervisor.http._app.CONTROL_STATUS`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._snapshot import ExitInfo


class SupervisorError(Exception):
    """Base class of every error raised on purpose by `supervisor`."""


class SpecError(SupervisorError, ValueError):
    """
    A spec is invalid.

    The message starts with the tree path and names the field, e.g.
    ``root/db: shutdown must be > 0, got -1``.
    """

    def __init__(self, path: str, field: str, problem: str) -> None:
        self.path = path
        self.field = field
        self.problem = problem
        super().__init__(f"{path}: {field} {problem}")


class TooManyRestarts(SupervisorError):
    """
    A supervisor saw more than *intensity* restarts within *period* seconds.

    It stopped its children and gave up. Its parent treats this as a crash
    of that supervisor; at the root, `supervisor.run` raises it.
    """

    def __init__(
        self, path: str, intensity: int, period: float, last: ExitInfo | None
    ) -> None:
        self.path = path
        self.intensity = intensity
        self.period = period
        #: The child exit that tipped the window over, or None.
        self.last = last
        cause = f"; last failure: {last.describe()}" if last is not None else ""
        super().__init__(
            f"{path}: more than {intensity} restart{'' if intensity == 1 else 's'} "
            f"within {period:g} s{cause}"
        )


class ControlError(SupervisorError):
    """
    A control call (`Tree.start_child`, `terminate_child`, `restart_child`,
    `delete_child`, the inspection calls and `supervisor.testing`'s faults)
    cannot be done on the node at *path*.

    The message starts with the tree path and says why, e.g.
    ``root/db: is running (or about to be restarted); terminate it before deleting it``.
    """

    def __init__(self, path: str, detail: str) -> None:
        #: The tree path the call was about.
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}")


class ChildLookupError(ControlError, LookupError):
    """No node exists at the given tree path."""


class ChildExists(ControlError):
    """`Tree.start_child` was given a name that is already in use."""


class ChildRunning(ControlError):
    """The call needs a stopped child, and this one still runs."""


class TooManyChildren(ControlError):
    """A dynamic supervisor already runs *limit* (its *max_children*) children."""

    def __init__(self, path: str, limit: int) -> None:
        #: The supervisor's max_children.
        self.limit = limit
        super().__init__(path, f"already runs max_children={limit} children")


class NotSupported(ControlError):
    """The call does not apply to this kind of node."""


class TreeNotRunning(ControlError):
    """The tree, or the supervisor the call goes through, has stopped (or is stopping)."""


class HttpBindError(SupervisorError):
    """
    The HTTP server cannot listen on *address* (in use, not a local address,
    a host that does not resolve). Raised by `supervisor.run` and
    `supervisor.open_tree` before any child starts: a listener that cannot
    bind is a configuration error, not a flaky child to retry.
    """

    def __init__(self, address: str, error: OSError) -> None:
        self.address = address
        #: The OSError (or socket.gaierror) the bind raised.
        self.error = error
        super().__init__(f"cannot serve HTTP on {address}: {error}")


class BadCheckResult(SupervisorError, TypeError):
    """
    A check's function returned something other than None or a valid `Observation`.

    Recorded as that check's failure (never raised out of the tree), e.g.
    ``check db returned True; return None or an Observation``.
    """

    def __init__(self, check: str, problem: str) -> None:
        #: The check's name.
        self.check = check
        self.problem = problem
        super().__init__(f"check {check} {problem}")


class NotInChild(SupervisorError, RuntimeError):
    """A call meant for a supervised child was made outside of one."""
