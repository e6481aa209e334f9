"""
etcd's v3 JSON gateway, as plain data: the request bodies the client sends and
the parsing of what etcd answers.

The gateway speaks protobuf's JSON mapping: keys and values are base64, int64
fields (lease ids, revisions, TTLs) are decimal strings, and fields at their
zero value are left out -- so a keepalive answer without ``TTL`` means the
lease is gone. An error is a body ``{"error", "message", "code"}`` with the
gRPC status code. Pure: no I/O, no clock; the client does the requests.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ._errors import (
    EtcdAuthFailed,
    EtcdRequestFailed,
    InstanceTaken,
    LeaseGone,
    LeaseNotFound,
)

# gRPC status codes etcd answers with (google.golang.org/grpc/codes).
NOT_FOUND = 5
UNAUTHENTICATED = 16
# etcd's own messages for a missing lease (its code varies: 5 for revoke,
# 2 for a campaign on it).
_LEASE_NOT_FOUND = "requested lease not found"
_AUTH_MESSAGES = ("invalid auth token", "authentication failed", "user name is empty")

Json = dict[str, Any]
# The longest error message kept from an answer (etcd's own are one line).
MAX_MESSAGE = 300


class MalformedAnswer(EtcdRequestFailed):
    """etcd (or something in front of it) answered with a body we cannot read."""


@attrs.frozen
class Lease:
    """A granted lease: its id and the TTL etcd granted (seconds)."""

    id: int
    ttl: int


@attrs.frozen
class KeyValue:
    """One key as a range answer lists it."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    lease: int


@attrs.frozen
class Leader:
    """An election won: the election's *name*, our *key* in it, its revision, our lease."""

    name: str
    key: str
    rev: int
    lease: int

    def as_json(self) -> Json:
        return {
            "name": encode(self.name),
            "key": encode(self.key),
            "rev": str(self.rev),
            "lease": str(self.lease),
        }


def encode(text: str | bytes) -> str:
    """base64 of *text* (UTF-8 for a str), as the gateway wants keys and values."""
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def decode(field: object, path: str = "answer") -> bytes:
    if not isinstance(field, str):
        raise MalformedAnswer(
            path, 0, f"expected base64 text, got {type(field).__name__}"
        )
    try:
        return base64.b64decode(field, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedAnswer(path, 0, "a field is not valid base64") from None


def int64(field: object, path: str = "answer", *, default: int | None = None) -> int:
    """An int64 field: a decimal string (a number is accepted too); absent means zero."""
    if field is None and default is not None:
        return default
    if isinstance(field, bool) or not isinstance(field, str | int):
        raise MalformedAnswer(path, 0, f"expected an int64 string, got {field!r:.40}")
    try:
        return int(field)
    except ValueError:
        raise MalformedAnswer(
            path, 0, f"expected an int64 string, got {field!r:.40}"
        ) from None


def prefix_end(prefix: str) -> str:
    """The ``range_end`` that makes a range cover every key starting with *prefix*."""
    raw = bytearray(prefix.encode())
    while raw:
        if raw[-1] < 0xFF:
            raw[-1] += 1
            return encode(bytes(raw))
        raw.pop()
    return encode(b"\0")  # every key


# ---- request bodies -------------------------------------------------------------


def grant_body(ttl: int) -> Json:
    return {"TTL": str(ttl)}


def lease_body(lease_id: int) -> Json:
    """For keepalive, revoke and timetolive."""
    return {"ID": str(lease_id)}


def range_body(key: str, *, prefix: bool = False) -> Json:
    body: Json = {"key": encode(key)}
    if prefix:
        body["range_end"] = prefix_end(key)
    return body


def put_if_absent_body(key: str, value: str, lease_id: int) -> Json:
    """A txn: put *key* on the lease if it was never created; else read it back."""
    return {
        "compare": [
            {
                "key": encode(key),
                "result": "EQUAL",
                "target": "CREATE",
                "create_revision": "0",
            }
        ],
        "success": [
            {
                "request_put": {
                    "key": encode(key),
                    "value": encode(value),
                    "lease": str(lease_id),
                }
            }
        ],
        "failure": [{"request_range": {"key": encode(key)}}],
    }


def campaign_body(name: str, lease_id: int, value: str) -> Json:
    return {"name": encode(name), "lease": str(lease_id), "value": encode(value)}


def resign_body(leader: Leader) -> Json:
    return {"leader": leader.as_json()}


def authenticate_body(name: str, password: str) -> Json:
    return {"name": name, "password": password}


# ---- answers --------------------------------------------------------------------


def load(path: str, status: int, text: str) -> Json:
    """
    The JSON object of an answer to *path*; an error body (or a non-2xx status)
    raised as the specific `EtcdRequestFailed` it means.
    """
    try:
        body = json.loads(text) if text.strip() else {}
    except (ValueError, RecursionError):  # nested past the recursion limit
        body = None
    if not isinstance(body, dict):
        raise MalformedAnswer(path, status, f"not a JSON object (HTTP {status})")
    # A streaming endpoint (keepalive) wraps its message in "result"/"error".
    error = body.get("error")
    if isinstance(error, dict):
        body = error
    elif "result" in body and isinstance(body["result"], dict):
        body = body["result"]
    if "error" in body or ("code" in body and "message" in body) or status >= 300:
        raise error_for(path, status, body)
    return body


def error_for(path: str, status: int, body: Mapping[str, Any]) -> EtcdRequestFailed:
    """The exception an error body means (its message is etcd's, never a secret)."""
    message = body.get("message") or body.get("error") or f"HTTP {status}"
    if not isinstance(message, str):
        message = f"HTTP {status}"
    if len(message) > MAX_MESSAGE:  # shown in /status and logs: etcd's are short
        message = message[:MAX_MESSAGE] + "..."
    code = body.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else 0
    if _LEASE_NOT_FOUND in message:
        return LeaseNotFound(path, code, message)
    if code == UNAUTHENTICATED or any(m in message for m in _AUTH_MESSAGES):
        return EtcdAuthFailed(path, code, message)
    return EtcdRequestFailed(path, code, message)


def parse_grant(body: Json) -> Lease:
    lease_id = int64(body.get("ID"), "lease/grant")
    ttl = int64(body.get("TTL"), "lease/grant", default=0)
    if lease_id == 0 or ttl <= 0:
        raise MalformedAnswer("lease/grant", 0, "granted no lease")
    return Lease(lease_id, ttl)


def parse_keepalive(body: Json, lease_id: int) -> int:
    """The TTL a keepalive renewed; `LeaseGone` if it carries none (the lease is gone)."""
    ttl = int64(body.get("TTL"), "lease/keepalive", default=0)
    if ttl <= 0:
        raise LeaseGone(lease_id)
    return ttl


def parse_kvs(items: object, path: str = "kv/range") -> list[KeyValue]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise MalformedAnswer(path, 0, "kvs is not a list")
    found = []
    for item in items:
        if not isinstance(item, dict):
            raise MalformedAnswer(path, 0, "a kv is not an object")
        found.append(
            KeyValue(
                key=decode(item.get("key"), path).decode(errors="replace"),
                value=decode(item.get("value", ""), path),
                create_revision=int64(item.get("create_revision"), path, default=0),
                mod_revision=int64(item.get("mod_revision"), path, default=0),
                lease=int64(item.get("lease"), path, default=0),
            )
        )
    return found


def parse_range(body: Json) -> list[KeyValue]:
    return parse_kvs(body.get("kvs"))


def check_put_if_absent(body: Json, key: str, lease_id: int) -> None:
    """
    The txn of `put_if_absent_body` put the key, or found it held by *lease_id*
    already (a retried request); another lease holds it: `InstanceTaken`.
    """
    if body.get("succeeded") is True:
        return
    responses = body.get("responses")
    kvs: list[KeyValue] = []
    if isinstance(responses, Sequence) and responses:
        first = responses[0]
        if isinstance(first, dict) and isinstance(first.get("response_range"), dict):
            kvs = parse_kvs(first["response_range"].get("kvs"), "kv/txn")
    holder = kvs[0].lease if kvs else 0
    if holder == lease_id:
        return
    raise InstanceTaken(key, holder)


def parse_campaign(body: Json) -> Leader:
    leader = body.get("leader")
    if not isinstance(leader, dict):
        raise MalformedAnswer("election/campaign", 0, "no leader in the answer")
    return Leader(
        name=decode(leader.get("name"), "election/campaign").decode(errors="replace"),
        key=decode(leader.get("key"), "election/campaign").decode(errors="replace"),
        rev=int64(leader.get("rev"), "election/campaign"),
        lease=int64(leader.get("lease"), "election/campaign"),
    )


def parse_token(body: Json) -> str:
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise MalformedAnswer("auth/authenticate", 0, "no token in the answer")
    return token


def revision(body: Json) -> int:
    """The store revision an answer's header carries."""
    header = body.get("header")
    if not isinstance(header, dict):
        return 0
    return int64(header.get("revision"), "header", default=0)
