"""
What can go wrong talking to etcd, as specific exceptions carrying data.

    EtcdError (SupervisorError)
    ├── EtcdUnavailable        no endpoint answered (connection refused, timeout, 5xx)
    ├── EtcdRequestFailed      etcd answered with an error body (.path, .code)
    │   ├── LeaseNotFound      the lease is gone (revoked, expired, etcd lost it)
    │   └── EtcdAuthFailed     the name/password were refused, or the token expired
    ├── LeaseGone              a keepalive answered without a TTL: the lease is gone
    └── InstanceTaken          /services/<service>/<instance> is held by another lease

Pure: no I/O; the client raises them, the mapping builds them from bodies.
"""

from __future__ import annotations

from ..._errors import SupervisorError


class EtcdError(SupervisorError):
    """Base class of the etcd integration's errors."""


class EtcdUnavailable(EtcdError):
    """No configured endpoint answered; *endpoints* were tried, *cause* is the last failure."""

    def __init__(self, endpoints: tuple[str, ...], cause: str) -> None:
        self.endpoints = endpoints
        self.cause = cause
        super().__init__(
            f"etcd is unavailable: tried {', '.join(endpoints)} ({cause}); "
            "check that etcd runs and that --etcd names its client URLs"
        )


class EtcdRequestFailed(EtcdError):
    """etcd answered *path* with an error (gRPC status *code*)."""

    def __init__(self, path: str, code: int, message: str) -> None:
        self.path = path
        self.code = code
        self.message = message
        super().__init__(f"etcd refused {path}: {message} (code {code})")


class LeaseNotFound(EtcdRequestFailed):
    """The lease named in the request no longer exists."""


class EtcdAuthFailed(EtcdRequestFailed):
    """Authentication failed: a wrong name or password, or an expired token."""


class LeaseGone(EtcdError):
    """A keepalive answered without a TTL: the lease *lease_id* expired or was lost."""

    def __init__(self, lease_id: int) -> None:
        self.lease_id = lease_id
        super().__init__(
            f"etcd lease {lease_id:x} is gone (expired, or etcd restarted); "
            "a new lease will be granted"
        )


class InstanceTaken(EtcdError):
    """Another lease holds the instance's key: two processes claim one instance id."""

    def __init__(self, key: str, lease_id: int) -> None:
        self.key = key
        self.lease_id = lease_id
        super().__init__(
            f"{key} is already registered by another process (lease {lease_id:x}); "
            "give each instance its own --instance, or wait for the old lease to expire"
        )
