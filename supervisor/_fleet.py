"""
`EtcdOptions`: how a tree joins its fleet in etcd (``run(spec, etcd=...)``).
Plain validated values, apart from the integration that uses them
(`supervisor.integrations.etcd`), as `HttpOptions` is apart from the HTTP
server: the options (`TreeOptions`) hold them, and nothing here talks to etcd.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs

from ._errors import SpecError
from ._safe import safe_repr

FIELD = "etcd"


def _endpoints(value: str | Sequence[str]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    endpoints = tuple(str(e).strip().rstrip("/") for e in items if str(e).strip())
    if not endpoints:
        raise SpecError(FIELD, "endpoints", "must name at least one etcd client URL")
    for url in endpoints:
        problem = _url_problem(url, path=False)
        if problem:
            raise SpecError(FIELD, "endpoints", problem)
    return endpoints


def _shown(url: str) -> str:
    """*url* for an error message: any ``user:password@`` replaced."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, tail = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return safe_repr(f"{scheme}{sep}{netloc}{slash}{tail}")


def _url_problem(url: str, *, path: bool) -> str:
    """Why *url* is not an http(s)://HOST:PORT URL ("" if it is); never its password."""
    shown = _shown(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not 0-65535
    except ValueError:
        return f"must be http(s)://HOST:PORT URLs with a port 0-65535, got {shown}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be http(s)://HOST:PORT URLs (etcd's client URLs), got {shown}"
    if "@" in parts.netloc:
        # It would be logged and shown with every outage, and etcd reads no
        # credentials from the URL anyway.
        return (
            f"must not hold credentials (got {shown}): give the user name and "
            "password as username=/password= (CLI: the --etcd-user-env variables)"
        )
    if parts.query or parts.fragment or (not path and parts.path not in ("", "/")):
        return f"must be http(s)://HOST:PORT URLs without a path or query, got {shown}"
    return ""


def _name(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None and attribute.name == "instance":
        return
    if (
        not isinstance(value, str)
        or not value
        or any(c in value for c in "/ \t\n")
        or len(value) > 200
    ):
        raise SpecError(
            FIELD,
            attribute.name,
            f"must be a non-empty name without '/' or spaces, got {safe_repr(value)}",
        )


def _ttl(_: object, __: object, value: object) -> None:
    # etcd grants whole seconds, and refuses less than its election timeout
    # allows (about 2 s with the default settings).
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 3600:
        raise SpecError(
            FIELD,
            "ttl",
            f"must be whole seconds from 2 to 3600, got {safe_repr(value)}",
        )


def _positive(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value < math.inf
    ):
        raise SpecError(
            FIELD, attribute.name, f"must be > 0 (finite), got {safe_repr(value)}"
        )


def _failures(_: object, __: object, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(
            FIELD, "failures", f"must be a whole number >= 1, got {safe_repr(value)}"
        )


def _advertise(_: object, __: object, value: Any) -> None:
    if value is None:
        return
    problem = (
        _url_problem(value, path=True)
        if isinstance(value, str)
        else f"got {safe_repr(value)}"
    )
    if problem:
        raise SpecError(
            FIELD,
            "advertise",
            "must be the URL others reach this instance's health server at, "
            f"e.g. http://10.0.0.5:8080 (it {problem})",
        )


@attrs.frozen(kw_only=True)
class EtcdOptions:
    """
    How the tree registers in etcd and holds its fleet singletons.

    *endpoints*: etcd client URLs (a list, or ``"URL,URL"``), tried in turn.
    *service*: the service name (``/services/<service>/<instance>``).
    *instance*: this instance's id; default the host name and the HTTP port.
    *ttl*: the lease TTL in whole seconds (renewed every ``ttl / 3``): how
    long a dead instance stays listed, and how long a singleton waits after its
    holder died. *advertise*: the URL of this instance's health server as others
    reach it (default: the HTTP server's address). *metadata*: extra JSON
    fields of the registration. *failures*: consecutive failed readiness
    observations (one every *interval* seconds) before the instance leaves the
    fleet. *username*/*password*: etcd authentication, if enabled.
    """

    endpoints: tuple[str, ...] = attrs.field(converter=_endpoints)
    service: str = attrs.field(validator=_name)
    instance: str | None = attrs.field(default=None, validator=_name)
    ttl: int = attrs.field(default=10, validator=_ttl)
    advertise: str | None = attrs.field(default=None, validator=_advertise)
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    failures: int = attrs.field(default=3, validator=_failures)
    interval: float = attrs.field(default=1.0, validator=_positive)
    timeout: float = attrs.field(default=2.0, validator=_positive)
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)


def singleton_paths(spec: object, path: str | None = None) -> list[str]:
    """
    Tree paths of the ``singleton=True`` specs in *spec* (a dynamic
    supervisor's template included); none for what is not a spec. Read by
    attribute, so that every kind of child (Process too) is found the same way.
    """
    name = getattr(spec, "name", None)
    if not isinstance(name, str):
        return []
    here = name if path is None else path
    found = [here] if getattr(spec, "singleton", False) is True else []
    children = getattr(spec, "children", ())
    for child in children if isinstance(children, tuple) else ():
        found.extend(singleton_paths(child, f"{here}/{getattr(child, 'name', '?')}"))
    template = getattr(spec, "template", None)
    if template is not None:
        found.extend(
            singleton_paths(template, f"{here}/{getattr(template, 'name', '?')}")
        )
    return found
