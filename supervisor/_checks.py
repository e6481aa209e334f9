"""
Health checks: dependencies (databases, Redis, queues) and resources (memory,
file descriptors, tasks), run in the background on their own schedule.

This module holds the spec (`Check`), what a check returns (`Observation`)
and its cached result (`CheckState`): values only. The runner that calls
the check on its schedule is `supervisor._runtime.checks`.

A check is any async callable that raises on failure (or returns an
`Observation` to report a measured value). Results follow Kubernetes probe
semantics: a check turns *failing* after *failure_threshold* consecutive
failures and *passing* again after *success_threshold* consecutive successes.
Endpoints read the cached `CheckState`, so a probe storm never reaches the
database.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from ._errors import BadCheckResult, SpecError
from ._safe import MAX_TEXT, safe_repr, safe_str
from ._validators import check_name, integer, is_async_callable, positive


class Feeds(enum.Enum):
    """Which verdict a check's failure affects."""

    LIVENESS = "liveness"  # failing: restart the process (use sparingly)
    READINESS = "readiness"  # failing: stop sending traffic
    INFO = "info"  # failing: a warning only; verdicts stay up


@attrs.frozen(kw_only=True)
class Observation:
    """What a check may return: a measured value, and whether it is only a warning."""

    value: float | None = None
    unit: str | None = None
    warn: bool = False  # passing, but close to its limit (health+json "warn")
    message: str | None = None


CheckFn = Callable[[], Awaitable[Observation | None]]


def _check_fn(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not is_async_callable(value):
        raise SpecError(
            instance.name,
            attribute.name,
            f"must be an async callable, got {safe_repr(value)}",
        )


@attrs.frozen(kw_only=True)
class Check:
    """
    A background check: ``await fn()`` every *interval* seconds, bounded by *timeout*.

    Defaults follow Kubernetes probes (period 10 s, timeout 1 s, failure
    threshold 3, success threshold 1). *component* and *measurement* name it in
    ``application/health+json`` (``component:measurement``).
    """

    name: str = attrs.field(validator=check_name)
    fn: CheckFn = attrs.field(validator=_check_fn)
    feeds: Feeds = Feeds.READINESS
    interval: float = attrs.field(default=10.0, validator=positive())
    timeout: float = attrs.field(default=1.0, validator=positive())
    failure_threshold: int = attrs.field(default=3, validator=integer(minimum=1))
    success_threshold: int = attrs.field(default=1, validator=integer(minimum=1))
    component: str | None = None
    measurement: str = "status"
    component_type: str = "component"


@attrs.define
class CheckState:
    """The cached result of one check; updated by its runner only."""

    check: Check
    # None until the first run finished: an unknown check is not passing.
    up: bool | None = None
    warn: bool = False
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    last_run: float | None = None  # trio clock
    last_error: str | None = (
        None  # exception type and message; shown only when authorised
    )
    observed_value: float | None = None
    observed_unit: str | None = None
    # The last passing run's Observation.message (e.g. "not measurable here");
    # shown like an error, only when authorised.
    note: str | None = None

    def __attrs_post_init__(self) -> None:
        # Kubernetes starts liveness as passing (a slow first run must not get
        # the process killed) and readiness as failing (no traffic before proof).
        if self.check.feeds is Feeds.LIVENESS:
            self.up = True

    def record(
        self, now: float, obs: Observation | None, error: BaseException | None
    ) -> bool:
        """Record one run; True if the check's status changed."""
        before = self.status
        self.last_run = now
        check = self.check
        if error is None:
            self.consecutive_successes += 1
            self.consecutive_failures = 0
            self.last_error = None
            self.note = None if obs is None else _cut(obs.message)
            self.warn = obs is not None and obs.warn
            if obs is not None and obs.value is not None:
                self.observed_value = _finite(obs.value)
                self.observed_unit = _cut(obs.unit, MAX_UNIT)
            if (
                self.up is not True
                and self.consecutive_successes >= check.success_threshold
            ):
                self.up = True
        else:
            self.consecutive_failures += 1
            self.consecutive_successes = 0
            self.note = None
            self.warn = False
            self.last_error = f"{type(error).__name__}: {safe_str(error)}"
            if isinstance(error, CheckFailed) and error.value is not None:
                self.observed_value = _finite(error.value)
                self.observed_unit = _cut(error.unit, MAX_UNIT)
            if self.up is not False and (
                self.consecutive_failures >= check.failure_threshold or self.up is None
            ):
                self.up = False
        return self.status != before

    def as_dict(self, *, details: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.check.name,
            "feeds": self.check.feeds.value,
            "status": self.status,
            "consecutive_failures": self.consecutive_failures,
            "consecutive_successes": self.consecutive_successes,
            "last_run": self.last_run,
            "observed_value": self.observed_value,
            "observed_unit": self.observed_unit,
        }
        if details:
            data["last_error"] = self.last_error
        return data

    @property
    def status(self) -> str:
        """``pass``, ``warn`` or ``fail`` (health+json words); unknown counts as fail."""
        if self.up is not True:
            return "fail"
        return "warn" if self.warn or self.consecutive_failures else "pass"


#: Longest unit kept from an Observation ("s", "bytes", "children"). A unit is
#: shown to anonymous callers; a check's message is cut at MAX_TEXT.
MAX_UNIT = 64


def _cut(text: object, limit: int = MAX_TEXT) -> str | None:
    # What a check reports ends up in every /status and health+json answer:
    # a huge unit or message must not make each of them megabytes.
    return safe_str(text, limit) if isinstance(text, str) else None


class CheckFailed(Exception):
    """Raised by a built-in check; carries the observed value when there is one."""

    def __init__(
        self, message: str, value: float | None = None, unit: str | None = None
    ) -> None:
        super().__init__(message)
        self.value = value
        self.unit = unit


def _finite(value: object) -> float | None:
    # JSON has no NaN or infinity; a check that measured nonsense reports nothing.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int beyond any float
        return None
    return value if finite else None


def _validated(name: str, result: object) -> Observation | None:
    """*result* as a check may return it, or `BadCheckResult` saying what is wrong."""
    if result is None:
        return None
    if not isinstance(result, Observation):
        raise BadCheckResult(
            name, f"returned {_shown(result)}; return None or an Observation"
        )
    value = result.value
    if value is not None and _finite(value) is None:
        raise BadCheckResult(
            name,
            f"returned an Observation whose value is {_shown(value)}; "
            "value must be a finite number or None",
        )
    for field, kind, allowed in (
        ("unit", str, "a str or None"),
        ("message", str, "a str or None"),
        ("warn", bool, "a bool"),
    ):
        got = getattr(result, field)
        if not isinstance(got, kind) and not (got is None and kind is str):
            raise BadCheckResult(
                name,
                f"returned an Observation whose {field} is {_shown(got)}; "
                f"{field} must be {allowed}",
            )
    return result


def _shown(value: object) -> str:
    # The value itself only when it is a short number or a bool: any other
    # object may hold anything (a connection string, a token), so only its type.
    if isinstance(value, int | float):
        text = repr(value)
        if len(text) <= 24:
            return text
    kind = type(value).__name__
    return f"{'an' if kind[:1].lower() in 'aeiou' else 'a'} {kind}"
