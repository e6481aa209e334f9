"""
`TreeOptions`: how a tree runs, beside what it runs (its spec).

The one copy of the options `run` and `open_tree` take as keywords (their
sugar builds one) and the `Tree` holds; each field is validated here, with a
`SpecError` naming it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from ._bind import HttpOptions
from ._checks import Check
from ._errors import SpecError
from ._fleet import EtcdOptions
from ._safe import safe_repr

# The hooks are called with the `Tree`; typed loosely here, since the spec
# layer does not import the runtime (`run` and `open_tree` type them exactly).
Hook = Callable[[Any], object]
# A loop stuck for a second is clearly wrong; much less would also flag the
# garbage collector's pauses in large trees (about 140 ms at 10,000 tasks).
DEFAULT_LOOP_BLOCK_THRESHOLD = 1.0

#: The path a `SpecError` about an option names (its field is the option).
OPTIONS = "options"


def _loop_block_threshold(_: object, __: object, value: object) -> None:
    if value is not None and not (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 < value < math.inf
    ):
        raise SpecError(
            OPTIONS,
            "loop_block_threshold",
            "must be > 0 seconds (a finite number) or None (not watched), "
            f"got {safe_repr(value)}",
        )


def _http(value: object) -> HttpOptions | None:
    if value is None or isinstance(value, HttpOptions):
        return value
    if not isinstance(value, str):
        raise SpecError(
            OPTIONS,
            "http",
            f"must be 'HOST:PORT', HttpOptions or None, got {safe_repr(value)}",
        )
    return HttpOptions(bind=value)


def _checks(value: Iterable[Check]) -> tuple[Check, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise SpecError(
            OPTIONS, "checks", f"must be a list of Check specs, got {safe_repr(value)}"
        )
    checks = tuple(value)
    seen: set[str] = set()
    for check in checks:
        if not isinstance(check, Check):
            raise SpecError(
                OPTIONS, "checks", f"must hold Check specs, got {safe_repr(check)}"
            )
        if check.name in seen:
            raise SpecError(
                check.name, "name", "is used by two checks; names must be unique"
            )
        seen.add(check.name)
    return checks


def _hook(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not callable(value):
        raise SpecError(
            OPTIONS,
            attribute.name,
            f"must be a callable taking the Tree, or None, got {safe_repr(value)}",
        )


def _etcd(_: object, __: object, value: Any) -> None:
    if value is not None and not isinstance(value, EtcdOptions):
        raise SpecError(
            OPTIONS, "etcd", f"must be EtcdOptions or None, got {safe_repr(value)}"
        )


@attrs.frozen(kw_only=True)
class TreeOptions:
    """
    How a tree runs: what `run` and `open_tree` take as keywords.

    *loop_block_threshold* is how long the event loop may go without running
    before ``event_loop_blocked`` is logged (None: not watched). *http* serves
    the health, status and control routes (``"HOST:PORT"`` or `HttpOptions`).
    *checks* run in the background and feed readiness. *opened* is called with
    the `Tree` before any child starts (to wire signal handlers that may stop
    a tree still starting), *started* once every initial child has started; an
    exception either raises stops the tree in order and is raised from the run.
    *etcd* registers the instance in etcd while it is ready and elects its
    ``singleton=True`` children there (`EtcdOptions`, docs/fleet.md).
    """

    loop_block_threshold: float | None = attrs.field(
        default=DEFAULT_LOOP_BLOCK_THRESHOLD, validator=_loop_block_threshold
    )
    http: HttpOptions | None = attrs.field(default=None, converter=_http)
    checks: tuple[Check, ...] = attrs.field(default=(), converter=_checks)
    opened: Hook | None = attrs.field(default=None, validator=_hook)
    started: Hook | None = attrs.field(default=None, validator=_hook)
    etcd: EtcdOptions | None = attrs.field(default=None, validator=_etcd)
