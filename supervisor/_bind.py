"""
How the tree serves HTTP (`HttpOptions`, `ShowDetails`) and the ``HOST:PORT``
syntax of its address (`parse_bind`): plain values the options and the CLI
validate with, apart from the HTTP surface that serves them (no server or
framework is imported here).
"""

from __future__ import annotations

import enum
import ipaddress
from typing import Any

import attrs

from ._errors import SpecError
from ._safe import safe_repr


class ShowDetails(enum.Enum):
    """Who sees failure reasons, exception text and tracebacks."""

    NEVER = "never"
    WHEN_AUTHORIZED = "when_authorized"  # callers with the bearer token
    ALWAYS = "always"  # only on a trusted network


def parse_bind(bind: object) -> tuple[str, int]:
    """
    ``HOST:PORT`` as (host, port): ``127.0.0.1:8080``, ``localhost:8080``,
    ``[::1]:8080``, ``0.0.0.0:8080`` (every interface). The host is required;
    the port is 1-65535, or 0 for a free port chosen by the system (see
    `Tree.http_addresses`). Raises `SpecError` (field ``bind``) otherwise.
    """
    if not isinstance(bind, str):
        raise SpecError(
            "http", "bind", f"must be a 'HOST:PORT' string, got {safe_repr(bind)}"
        )
    host, sep, port_text = bind.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            host = ""
    elif ":" in host or "[" in host or "]" in host:
        host = ""  # an IPv6 address goes in brackets: [::1]:8080
    if (
        not sep
        or not host
        or any(c.isspace() or c in "/[]" for c in host)
        or not (port_text.isascii() and port_text.isdigit())
        or int(port_text) > 65535
    ):
        raise SpecError(
            "http",
            "bind",
            "must be HOST:PORT with a port from 1 to 65535 (0: any free port), "
            f"e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080; got {bind!r}",
        )
    return host, int(port_text)


def _check_bind(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    parse_bind(value)


@attrs.frozen(kw_only=True)
class HttpOptions:
    """
    How the tree serves HTTP.

    *bind* is ``HOST:PORT`` (see `parse_bind`) and defaults to loopback. In
    Kubernetes the kubelet probes the pod's IP, so there bind
    ``0.0.0.0:8080``. Control calls (POST) are off unless *token* is set;
    callers then send ``Authorization: Bearer <token>``.
    """

    bind: str = attrs.field(default="127.0.0.1:8080", validator=_check_bind)
    token: str | None = attrs.field(default=None, repr=False)
    show_details: ShowDetails = ShowDetails.WHEN_AUTHORIZED
