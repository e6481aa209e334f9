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
import ipaddress
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from .._errors import SpecError
from .._safe import safe_repr

#: Consul's reaper runs every 30 s and refuses a shorter deregistration delay.
MIN_DEREGISTER_AFTER = 60.0

#: The longest duration Go parses (an int64 of nanoseconds), in whole seconds:
#: Consul reads every duration of the definition with time.ParseDuration.
MAX_DURATION = (2**63 - 1) // 10**9

#: FailuresBeforeCritical is a Go int; 32 bits is what every platform has.
MAX_FAILURES = 2**31 - 1

# A service name and an instance ID: letters, digits, "_", "." and "-", 1-255
# characters, the first a letter or digit. Consul serves the name in DNS
# (NAME.service.consul: no "/", space or "?" in a DNS name) and puts the ID in
# a URL path (PUT /v1/agent/service/deregister/ID: a "/", "?" or "#" would
# address another endpoint, and "." or ".." another path), so anything else
# registers an instance that cannot be found or removed.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
_NAME_RULE = (
    "must be 1-255 letters, digits, '_', '.' or '-', starting with a letter "
    "or digit (Consul puts it in DNS names and URL paths)"
)

# An RFC 1123 host name: dot-separated labels of 1-63 letters, digits and
# hyphens, no label starting or ending with a hyphen, 253 characters at most.
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")

_HTTP_RULE = (
    "must be HOST:PORT as the Consul agent reaches the tree: an IP address or "
    "an RFC 1123 host name, and a port from 1 to 65535, e.g. 10.0.0.5:8080, "
    "app-1.internal:8080 or [fd00::5]:8080"
)


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
    as the Consul agent reaches it: not ``0.0.0.0``, not port 0).

    The check polls ``/readyz`` every *interval* seconds, each poll bounded by
    *timeout*; *failures* failed polls in a row make the instance critical
    (``FailuresBeforeCritical``), and critical for *deregister_after* seconds
    removes it from the catalog. Raises `SpecError` naming the argument.
    """
    host, port = _reachable(http)
    _require(_is_name(service), "service", f"{_NAME_RULE}, got {safe_repr(service)}")
    shown_host = f"[{host}]" if ":" in host else host
    # An IPv6 address's colons are not in an ID's alphabet.
    default_id = f"{service}-{host.replace(':', '-')}-{port}"
    identity = default_id if service_id is None else service_id
    _require(
        _is_name(identity),
        "service_id",
        f"{_NAME_RULE}, got {safe_repr(identity)}"
        + (" (NAME-HOST-PORT: give one)" if service_id is None else ""),
    )
    _check_timing(interval, timeout, failures, deregister_after)
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


def _check_timing(
    interval: float, timeout: float, failures: int, deregister_after: float
) -> None:
    longest = f"at most {MAX_DURATION} s (Go's longest duration, as Consul reads it)"
    _require(
        _duration_ok(interval), "interval", f"must be at least 0.001 s and {longest}"
    )
    _require(
        _duration_ok(timeout) and timeout < interval,
        "timeout",
        f"must be > 0 and shorter than the interval ({interval:g} s)",
    )
    _require(
        not isinstance(failures, bool)
        and isinstance(failures, int)
        and 1 <= failures <= MAX_FAILURES,
        "failures",
        f"must be an integer >= 1 and <= {MAX_FAILURES}",
    )
    _require(
        _duration_ok(deregister_after) and deregister_after >= MIN_DEREGISTER_AFTER,
        "deregister_after",
        f"must be at least {MIN_DEREGISTER_AFTER:g} s (Consul's minimum) and {longest}",
    )


def go_duration(seconds: float) -> str:
    """*seconds* in Go's duration syntax, as Consul reads it: ``10s``, ``500ms``."""
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def parse_reachable(http: str) -> tuple[str, int]:
    """
    ``HOST:PORT`` as the Consul agent polls it, as (host, port): an IPv4
    address, an IPv6 address in brackets (no zone), or an RFC 1123 host name;
    a port from 0 to 65535; nothing else (no user, path, query or escape: the
    host goes into the check's URL as it is). Raises `SpecError` (``http``).
    """
    host, sep, port_text = http.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    ok = (
        bool(sep)
        and port_text.isascii()
        and port_text.isdigit()
        and int(port_text) <= 65535
        and (_is_ipv6(host) if bracketed else _is_ipv4(host) or _is_hostname(host))
    )
    _require(ok, "http", f"{_HTTP_RULE}; got {safe_repr(http)}")
    return host, int(port_text)


def _reachable(http: object) -> tuple[str, int]:
    if not isinstance(http, str):
        raise SpecError(
            "consul-service", "http", f"{_HTTP_RULE}; got {safe_repr(http)}"
        )
    host, port = parse_reachable(http)
    is_address = _is_ipv4(host) or _is_ipv6(host)
    _require(
        port != 0 and not (is_address and ipaddress.ip_address(host).is_unspecified),
        "http",
        f"must be the address the Consul agent polls, got {safe_repr(http)} "
        "(a bind-all address or port 0 is where the tree listens, not where it is reached)",
    )
    return host, port


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)  # dotted decimal only: no "1.2", no "0x7f.1"
    except ValueError:
        return False
    return True


def _is_ipv6(host: str) -> bool:
    if "%" in host:  # a zone ("fe80::1%eth0") cannot go into a URL as it is
        return False
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def _is_hostname(host: str) -> bool:
    labels = host.split(".")
    return (
        host.isascii()
        and len(host) <= 253
        and all(_LABEL.fullmatch(label) for label in labels)
        # An all-numeric last label ("1.2.3", "010.1.1.1") is an address a
        # resolver may read its own way, not a name.
        and not labels[-1].isdigit()
    )


def _is_name(name: object) -> bool:
    return isinstance(name, str) and name.isascii() and bool(_NAME.fullmatch(name))


def _duration_ok(seconds: object) -> bool:
    return (
        isinstance(seconds, int | float)
        and not isinstance(seconds, bool)
        and 0 < seconds <= MAX_DURATION
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
        help="where the Consul agent reaches the tree's HTTP server: an IP address "
        "or host name, and a port (not 0.0.0.0, not port 0)",
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


#: service_definition's arguments as the command line spells them.
_FLAGS = {
    "service": "--service",
    "http": "--http",
    "service_id": "--id",
    "interval": "--interval",
    "timeout": "--timeout",
    "failures": "--failures",
    "deregister_after": "--deregister-after",
}


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
        flag = _FLAGS.get(exc.field, exc.field)
        print(f"supervisor consul-service: {flag} {exc.problem}", file=sys.stderr)
        return 2
    print(json.dumps(definition, indent=2))
    return 0
