"""
The HTTP surface's vocabulary: its routes (`ROUTES`; docs/openapi.yaml is
checked against it), the status code of each control error (`CONTROL_STATUS`),
the bounds of a control call, and the 4xx answer a bad request gets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

from .._errors import (
    ChildExists,
    ChildLookupError,
    ChildRunning,
    ControlError,
    NotSupported,
    TooManyChildren,
    TreeNotRunning,
)
from .._safe import safe_str

# ASGI's three arguments.
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
HEALTH_JSON = "application/health+json"
NO_STORE = [(b"cache-control", b"no-store")]


MAX_BODY = 64 * 1024


MAX_NESTING = 32  # levels of arrays and objects in a control call's JSON body


# A control call still in progress after this many seconds (a slow start, a
# slow stop, a queue of earlier calls) is answered 202 with the child's state;
# the action goes on in the supervisor's control task.
CONTROL_ANSWER_WITHIN = 5.0


# The status of a control call that raised a ControlError: the one table the
# control route answers from (a test checks it names every subclass).
CONTROL_STATUS: dict[type[ControlError], int] = {
    ChildLookupError: 404,  # no such node
    ChildExists: 409,  # conflicts with the tree's current state ...
    ChildRunning: 409,
    TooManyChildren: 409,
    NotSupported: 409,
    TreeNotRunning: 409,
}


def control_status(exc: ControlError) -> int:
    """The HTTP status for *exc*: its class's entry, or its nearest base's."""
    for kind in type(exc).__mro__:
        status = CONTROL_STATUS.get(kind)
        if status is not None:
            return status
    return 409  # a ControlError subclass not in the table (a test forbids it)


# A 4xx answer quotes what the client sent (a path, a name): no more than this.
ERROR_TEXT = 512


@attrs.frozen
class Route:
    """One route of the surface: its methods, what serves it, whether ``/NAME`` may follow."""

    methods: tuple[str, ...]
    serves: str  # "probe", "status", "metrics", "dashboard" or "control"
    suffix: bool = False  # /readyz/NAME; /control/ACTION/PATH


READ = ("GET", "HEAD")


#: Every route, by the first segment of its path; docs/openapi.yaml is checked
#: against this table (tests/test_openapi.py).
ROUTES: dict[str, Route] = {
    "livez": Route(READ, "probe", suffix=True),
    "readyz": Route(READ, "probe", suffix=True),
    "healthz": Route(READ, "probe", suffix=True),
    "status": Route(READ, "status"),
    "metrics": Route(READ, "metrics"),
    "": Route(READ, "dashboard"),
    "control": Route(("POST",), "control", suffix=True),
}


def not_allowed(method: str, allowed: tuple[str, ...]) -> BadRequest:
    what = (
        "control calls are POST"
        if allowed == ("POST",)
        else f"{method} is not allowed here"
    )
    return BadRequest(405, what, [(b"allow", ", ".join(allowed).encode())])


class BadRequest(Exception):
    def __init__(
        self, status: int, message: str, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        super().__init__(safe_str(message, ERROR_TEXT))
        self.status = status
        self.headers = list(headers)
