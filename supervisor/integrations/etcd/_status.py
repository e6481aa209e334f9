"""
What the tree shows of its fleet membership: the INFO check ``etcd`` (in
``/readyz?verbose``, ``/healthz``, ``/status``) and the rows of the gauges
``supervisor_etcd_registered`` and ``supervisor_singleton_holder``, which the
collector (`supervisor.metrics`) reads through the check's ``metric_samples``.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio

from ..._checks import Check, CheckState, Feeds, Observation

Sample = tuple[str, tuple[str, ...], float]


async def _never() -> None:  # the fn of a check the service records itself
    return None


@attrs.define
class FleetCheck(CheckState):
    """The INFO check ``etcd``: recorded by the service, never run by a check runner."""

    samples: list[Sample] = attrs.field(factory=list)

    def metric_samples(self) -> list[Sample]:
        """Rows for the collector (`supervisor.metrics`): (metric, labels, value)."""
        return list(self.samples)


class FleetStatus:
    """The registration and the singletons as the tree shows them (see the module)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.key = ""  # /services/<service>/<instance>, once the instance is known
        self.registered = False
        self.holding: dict[str, int] = {}  # singleton path -> fencing token
        self.waiting: set[str] = set()  # singleton paths in standby
        #: Called on every change: the tree's cached documents are stale.
        self.invalidate: Callable[[], None] = lambda: None
        self.check = FleetCheck(
            check=Check(
                name="etcd",
                fn=_never,
                feeds=Feeds.INFO,
                failure_threshold=1,
                component="etcd",
                measurement="registered",
            )
        )

    def changed(self) -> None:
        """Holders or waiters changed: new gauge rows, stale documents."""
        rows: list[Sample] = [
            (
                "supervisor_etcd_registered",
                (self.service,),
                1.0 if self.registered else 0.0,
            )
        ]
        rows.extend(
            ("supervisor_singleton_holder", (path,), 1.0)
            for path in sorted(self.holding)
        )
        rows.extend(
            ("supervisor_singleton_holder", (path,), 0.0)
            for path in sorted(self.waiting - set(self.holding))
        )
        self.check.samples = rows
        self.invalidate()

    def show(self, error: BaseException | None, *, leaving: bool, member: bool) -> None:
        """Record the registration (or *error*) in the INFO check, then `changed`."""
        if self.registered:
            message = f"registered as {self.key}"
        elif leaving:
            message = "not registered (the tree is stopping)"
        elif member:
            message = f"registering {self.key}"
        else:
            message = "not registered (the tree is not ready)"
        check = self.check
        check.record(
            trio.current_time(),
            Observation(value=1.0 if self.registered else 0.0, message=message)
            if error is None
            else None,
            error,
        )
        if error is None and not self.registered:
            # Not registered (yet, or by choice): a warning, not an outage.
            check.up = False
            check.last_error = message
        self.changed()

    @property
    def failing(self) -> bool:
        return self.check.up is False
