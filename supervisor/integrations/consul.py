"""
Consul: a service definition for a tree's HTTP surface, with an HTTP check on
``/readyz`` (``supervisor consul-service``). Pure data in, JSON out.

The definition is the body of Consul's ``PUT /v1/agent/service/register``
(the agent then polls ``/readyz`` itself: a tree that is not ready turns the
instance critical, and one critical for ``DeregisterCriticalServiceAfter`` is
removed). It is generated only: no Consul server runs in this project's tests,
so no client of the agent's API is claimed here (docs/production.md).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from .._bind import parse_bind
from .._errors import SpecError

#: Consul's reaper runs every 30 s and refuses a shorter deregistration delay.
MIN_DEREGISTER_AFTER = 60.0


def service_definition(
    *,
    service: str,
    http: str,
    service_id: str | None = None,
    interval: float = 10.0,
    timeout: float = 2.0,
    failures: int = 3,
    deregister_after: float = 300.0,
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """
    The registration of *service* whose tree serves HTTP at *http* (``HOST:PORT``
    as the Consul agent reaches it: not ``0.0.0.0``).

    The check polls ``/readyz`` every *interval* seconds, each poll bounded by
    *timeout*; *failures* failed polls in a row make the instance critical
    (``FailuresBeforeCritical``), and critical for *deregister_after* seconds
    removes it from the catalog.
    """
    host, port = _reachable(http)
    _require(bool(service.strip()), "service", "must be a non-empty name")
    _require(_duration_ok(interval), "interval", "must be a number of seconds > 0")
    _require(
        _duration_ok(timeout) and timeout < interval,
        "timeout",
        f"must be > 0 and shorter than the interval ({interval:g} s)",
    )
    _require(
        not isinstance(failures, bool) and isinstance(failures, int) and failures >= 1,
        "failures",
        "must be an integer >= 1",
    )
    _require(
        _duration_ok(deregister_after) and deregister_after >= MIN_DEREGISTER_AFTER,
        "deregister_after",
        f"must be at least {MIN_DEREGISTER_AFTER:g} s (Consul's minimum)",
    )
    shown_host = f"[{host}]" if ":" in host else host
    identity = service_id or f"{service}-{host}-{port}"
    return {
        "ID": identity,
        "Name": service,
        "Tags": list(tags),
        "Address": host,
        "Port": port,
        "Meta": {"health": "trio-supervisor"},
        "Check": {
            "CheckID": f"{identity}:readyz",
            "Name": f"{service} readiness (/readyz)",
            "HTTP": f"http://{shown_host}:{port}/readyz",
            "Method": "GET",
            "Interval": go_duration(interval),
            "Timeout": go_duration(timeout),
            "SuccessBeforePassing": 1,
            "FailuresBeforeCritical": failures,
            "DeregisterCriticalServiceAfter": go_duration(deregister_after),
        },
    }


def go_duration(seconds: float) -> str:
    """*seconds* in Go's duration syntax, as Consul reads it: ``10s``, ``500ms``."""
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def _reachable(http: str) -> tuple[str, int]:
    try:
        host, port = parse_bind(http)
    except SpecError as exc:
        raise SpecError("consul-service", "http", exc.problem) from None
    unspecified = False
    with contextlib.suppress(ValueError):  # a host name is never unspecified
        unspecified = ipaddress.ip_address(host).is_unspecified
    _require(
        not unspecified and port != 0,
        "http",
        f"must be the address the Consul agent polls, got {http!r} "
        "(a bind-all address or port 0 is where the tree listens, not where it is reached)",
    )
    return host, port


def _duration_ok(seconds: object) -> bool:
    return (
        isinstance(seconds, int | float)
        and not isinstance(seconds, bool)
        and 0 < seconds < math.inf
        and round(seconds * 1000) > 0
    )


def _require(ok: bool, field: str, problem: str) -> None:
    if not ok:
        raise SpecError("consul-service", field, problem)


# ---- the command line (`supervisor consul-service`) ---------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``supervisor consul-service``."""
    parser.add_argument("--service", required=True, metavar="NAME", help="service name")
    parser.add_argument(
        "--http",
        required=True,
        metavar="HOST:PORT",
        help="where the Consul agent reaches the tree's HTTP server (not 0.0.0.0)",
    )
    parser.add_argument(
        "--id",
        dest="service_id",
        metavar="ID",
        help="instance ID (default NAME-HOST-PORT)",
    )
    parser.add_argument(
        "--tag",
        dest="tags",
        action="append",
        default=[],
        metavar="TAG",
        help="a tag (repeatable)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="poll every (default 10)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="each poll's bound (default 2)",
    )
    parser.add_argument(
        "--failures",
        type=int,
        default=3,
        metavar="N",
        help="failed polls in a row before critical (default 3)",
    )
    parser.add_argument(
        "--deregister-after",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="critical this long: removed from the catalog (default 300, at least 60)",
    )


def command(args: argparse.Namespace) -> int:
    """Print the definition as JSON; exit 2 with the reason if an option is wrong."""
    try:
        definition = service_definition(
            service=args.service,
            http=args.http,
            service_id=args.service_id,
            interval=args.interval,
            timeout=args.timeout,
            failures=args.failures,
            deregister_after=args.deregister_after,
            tags=args.tags,
        )
    except SpecError as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(definition, indent=2))
    return 0
