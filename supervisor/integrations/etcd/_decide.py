"""
The pure decisions of the etcd integration: the key layout, the registration
value, when the instance belongs in the fleet, and the keepalive timing.

Pure: plain values in, decisions out (no trio, no clock, no I/O): the service
(`_member`) reads the clock and the tree and applies them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

SERVICES = "/services"
SINGLETONS = "/supervisor/{service}/singletons/"


def registration_key(service: str, instance: str) -> str:
    """``/services/<service>/<instance>``: the key an instance holds while ready."""
    return f"{SERVICES}/{service}/{instance}"


def election_name(service: str, path: str) -> str:
    """The etcd election a singleton at tree *path* is held through."""
    return SINGLETONS.format(service=service) + path


def registration_value(
    *,
    url: str,
    instance: str,
    started_at: float,
    metadata: Mapping[str, Any],
) -> str:
    """The JSON the registration key holds (address and port read from *url*)."""
    parts = urlsplit(url)
    return json.dumps(
        {
            "url": url,
            "address": parts.hostname or "",
            "port": parts.port,
            "instance": instance,
            "started_at": started_at,
            "metadata": dict(metadata),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


class Membership(NamedTuple):
    """Whether the instance belongs in the fleet now, and the failures counted."""

    member: bool
    failures: int


def next_membership(
    before: Membership, *, ready: bool, shutting_down: bool, threshold: int
) -> Membership:
    """
    One readiness observation applied: a ready tree is a member at once; a tree
    that fails readiness *threshold* times in a row is not (revoked at once,
    not after the TTL); a tree shutting down leaves at the first observation,
    before its children stop.
    """
    if shutting_down:
        return Membership(False, before.failures)
    if ready:
        return Membership(True, 0)
    failures = before.failures + 1
    return Membership(before.member and failures < threshold, failures)


def keepalive_interval(ttl: float) -> float:
    """Renew the lease three times per TTL: two renewals may be lost before it expires."""
    return ttl / 3


def stop_deadline(last_renewed: float, ttl: float) -> float:
    """
    When the holder of a singleton must have stopped it, having lost contact
    with etcd. The lease expires no sooner than *ttl* after the last renewal
    etcd answered (its countdown restarted when it handled the request, after
    *last_renewed*, when it was sent), so the child is stopped a third of the
    TTL before that: its stop must fit in ``ttl / 3``.
    """
    return last_renewed + ttl - ttl / 3


def default_instance(hostname: str, port: int | None) -> str:
    """The instance id when none is given: the host name, and the port if serving."""
    return hostname if port is None else f"{hostname}-{port}"
