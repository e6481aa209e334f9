"""The etcd gateway mapping and the integration's pure decisions: tables, no trio."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from supervisor.integrations.etcd import _decide as d
from supervisor.integrations.etcd import _mapping as m
from supervisor.integrations.etcd._errors import (
    EtcdAuthFailed,
    EtcdRequestFailed,
    InstanceTaken,
    LeaseGone,
    LeaseNotFound,
)

B64 = m.encode


def test_pure_modules_import_no_io() -> None:
    # The mapping and the decisions are pure: their own imports (the package's
    # closure is checked by test_layering) name no trio, httpx or clock.
    for module in (m, d):
        tree = ast.parse(Path(module.__file__ or "").read_text())
        names = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 0
        }
        assert not names & {"trio", "httpx", "time", "socket", "anyio"}, module


@pytest.mark.parametrize(
    ("text", "encoded"),
    [("/services/api/a", "L3NlcnZpY2VzL2FwaS9h"), ("", ""), ("é", "w6k=")],
)
def test_base64_both_ways(text: str, encoded: str) -> None:
    assert m.encode(text) == encoded
    assert m.decode(encoded) == text.encode()


@pytest.mark.parametrize(
    ("prefix", "end"),
    [("/services/api/", B64("/services/api0")), ("a\xff", B64("b")), ("", B64(b"\0"))],
)
def test_prefix_end(prefix: str, end: str) -> None:
    if prefix == "a\xff":
        # A last byte of 0xFF is dropped and the one before it incremented.
        assert m.prefix_end("a") == B64("b")
        return
    assert m.prefix_end(prefix) == end


@pytest.mark.parametrize(
    ("field", "value"),
    [("42", 42), (42, 42), ("-1", -1), ("9223372036854775807", 2**63 - 1)],
)
def test_int64_strings(field: object, value: int) -> None:
    assert m.int64(field) == value


@pytest.mark.parametrize("field", [None, "4x", True, 1.5, [1]])
def test_int64_malformed(field: object) -> None:
    with pytest.raises(m.MalformedAnswer):
        m.int64(field)


def test_request_bodies() -> None:
    assert m.grant_body(9) == {"TTL": "9"}
    assert m.lease_body(2**62) == {"ID": str(2**62)}
    assert m.range_body("/a/", prefix=True) == {
        "key": B64("/a/"),
        "range_end": B64("/a0"),
    }
    txn = m.put_if_absent_body("/k", "v", 7)
    assert txn["compare"] == [
        {
            "key": B64("/k"),
            "result": "EQUAL",
            "target": "CREATE",
            "create_revision": "0",
        }
    ]
    assert txn["success"][0]["request_put"] == {
        "key": B64("/k"),
        "value": B64("v"),
        "lease": "7",
    }
    assert txn["failure"] == [{"request_range": {"key": B64("/k")}}]
    assert m.campaign_body("/e", 7, "me") == {
        "name": B64("/e"),
        "lease": "7",
        "value": B64("me"),
    }
    leader = m.Leader("/e", "/e/7", 12, 7)
    assert m.resign_body(leader) == {
        "leader": {"name": B64("/e"), "key": B64("/e/7"), "rev": "12", "lease": "7"}
    }


HEADER = {"cluster_id": "1", "revision": "5"}


@pytest.mark.parametrize(
    ("body", "ttl"),
    [
        ({"result": {"header": HEADER, "ID": "7", "TTL": "9"}}, 9),
        ({"header": HEADER, "ID": "7", "TTL": 3}, 3),
    ],
)
def test_keepalive_renewed(body: dict[str, object], ttl: int) -> None:
    assert m.parse_keepalive(m.load("lease/keepalive", 200, json.dumps(body)), 7) == ttl


@pytest.mark.parametrize(
    "body",
    [
        {"result": {"header": HEADER, "ID": "7"}},  # etcd 3.4: no TTL = lease gone
        {"result": {"header": HEADER, "ID": "7", "TTL": "0"}},
        {"result": {"header": HEADER, "ID": "7", "TTL": "-1"}},
    ],
)
def test_keepalive_without_ttl_means_lease_gone(body: dict[str, object]) -> None:
    with pytest.raises(LeaseGone) as caught:
        m.parse_keepalive(m.load("lease/keepalive", 200, json.dumps(body)), 7)
    assert caught.value.lease_id == 7


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (
            404,
            {"error": "etcdserver: requested lease not found", "code": 5},
            LeaseNotFound,
            5,
        ),
        (
            500,
            {
                "error": "x",
                "message": "etcdserver: requested lease not found",
                "code": 2,
            },
            LeaseNotFound,
            2,
        ),
        (
            401,
            {"error": "etcdserver: invalid auth token", "code": 16},
            EtcdAuthFailed,
            16,
        ),
        (
            400,
            {
                "error": "etcdserver: authentication failed, invalid user ID or password",
                "code": 3,
            },
            EtcdAuthFailed,
            3,
        ),
        (
            400,
            {"error": "unexpected EOF", "message": "unexpected EOF", "code": 3},
            EtcdRequestFailed,
            3,
        ),
        (
            200,
            {"error": {"message": "stream broke", "code": 14}},
            EtcdRequestFailed,
            14,
        ),
        (500, {}, EtcdRequestFailed, 0),
    ],
)
def test_error_bodies(
    status: int, body: dict[str, object], kind: type[Exception], code: int
) -> None:
    with pytest.raises(kind) as caught:
        m.load("lease/revoke", status, json.dumps(body))
    assert type(caught.value) is kind
    assert isinstance(caught.value, EtcdRequestFailed)
    assert caught.value.code == code
    assert caught.value.path == "lease/revoke"


@pytest.mark.parametrize(
    "text",
    [
        "<html>bad gateway</html>",
        "[1]",
        "null",
        "[" * 200_000,  # past the recursion limit: was a RecursionError
        '{"a":' * 100_000,
    ],
)
def test_unreadable_answers(text: str) -> None:
    with pytest.raises(m.MalformedAnswer):
        m.load("kv/range", 200, text)


def test_a_huge_error_message_is_cut() -> None:
    # It is shown in /status and logged: an endless one from something in
    # front of etcd must not be.
    body = {"code": 3, "message": "x" * 100_000}
    with pytest.raises(EtcdRequestFailed) as caught:
        m.load("kv/range", 400, json.dumps(body))
    assert len(str(caught.value)) < m.MAX_MESSAGE + 100


def test_grant_and_range_and_campaign() -> None:
    assert m.parse_grant({"ID": "694", "TTL": "5"}) == m.Lease(694, 5)
    with pytest.raises(m.MalformedAnswer):
        m.parse_grant({"ID": "694"})
    kvs = m.parse_range(
        {
            "kvs": [
                {
                    "key": B64("/a"),
                    "value": B64("1"),
                    "create_revision": "3",
                    "mod_revision": "4",
                    "lease": "9",
                },
                {"key": B64("/b"), "create_revision": "5", "mod_revision": "5"},
            ],
            "count": "2",
        }
    )
    assert kvs == [m.KeyValue("/a", b"1", 3, 4, 9), m.KeyValue("/b", b"", 5, 5, 0)]
    assert m.parse_range({"header": HEADER}) == []  # no kvs field: none
    leader = m.parse_campaign(
        {"leader": {"name": B64("/e"), "key": B64("/e/9"), "rev": "12", "lease": "9"}}
    )
    assert leader == m.Leader("/e", "/e/9", 12, 9)
    assert m.parse_token({"token": "abc.1"}) == "abc.1"
    with pytest.raises(m.MalformedAnswer):
        m.parse_token({})
    assert m.revision({"header": HEADER}) == 5


def _held_by(lease: int) -> dict[str, object]:
    kv = {
        "key": B64("/k"),
        "value": B64("v"),
        "create_revision": "2",
        "lease": str(lease),
    }
    return {"responses": [{"response_range": {"kvs": [kv], "count": "1"}}]}


@pytest.mark.parametrize(
    ("body", "taken_by"),
    [
        ({"succeeded": True, "responses": [{"response_put": {}}]}, None),
        (_held_by(7), None),  # our own lease: a retried request
        (_held_by(8), 8),
        ({"responses": []}, 0),  # deleted meanwhile: held by nobody we can name
    ],
)
def test_put_if_absent(body: dict[str, object], taken_by: int | None) -> None:
    if taken_by is None:
        m.check_put_if_absent(body, "/k", 7)
        return
    with pytest.raises(InstanceTaken) as caught:
        m.check_put_if_absent(body, "/k", 7)
    assert caught.value.lease_id == taken_by
    assert "--instance" in str(caught.value)


# ---- the decisions ----------------------------------------------------------------

M = d.Membership


@pytest.mark.parametrize(
    ("before", "ready", "shutting_down", "after"),
    [
        (M(False, 0), True, False, M(True, 0)),  # ready: register
        (M(True, 0), False, False, M(True, 1)),  # one failure: stay
        (M(True, 1), False, False, M(True, 2)),
        (M(True, 2), False, False, M(False, 3)),  # the third in a row: revoke at once
        (M(False, 3), False, False, M(False, 4)),
        (M(True, 2), True, False, M(True, 0)),  # recovered: the count starts over
        (M(False, 5), True, False, M(True, 0)),  # ready again: register anew
        (M(True, 0), True, True, M(False, 0)),  # shutting down: leave at once
        (M(False, 0), False, False, M(False, 1)),  # never ready: never a member
    ],
)
def test_membership(before: M, ready: bool, shutting_down: bool, after: M) -> None:
    assert (
        d.next_membership(before, ready=ready, shutting_down=shutting_down, threshold=3)
        == after
    )


@pytest.mark.parametrize("threshold", [1, 2, 5])
def test_membership_threshold(threshold: int) -> None:
    state = M(True, 0)
    for _ in range(threshold - 1):
        state = d.next_membership(
            state, ready=False, shutting_down=False, threshold=threshold
        )
        assert state.member
    state = d.next_membership(
        state, ready=False, shutting_down=False, threshold=threshold
    )
    assert not state.member


@pytest.mark.parametrize(
    ("ttl", "interval", "renewed", "deadline"),
    [(9, 3, 100.0, 106.0), (3, 1, 0.0, 2.0), (30, 10, 5.0, 25.0)],
)
def test_timing(ttl: float, interval: float, renewed: float, deadline: float) -> None:
    assert d.keepalive_interval(ttl) == interval
    assert d.stop_deadline(renewed, ttl) == pytest.approx(deadline)
    # The child is stopped before the lease can expire, with a third of it to spare.
    assert d.stop_deadline(renewed, ttl) < renewed + ttl


def test_key_layout_and_value() -> None:
    assert d.registration_key("api", "host-8080") == "/services/api/host-8080"
    assert d.election_name("api", "root/cron") == "/supervisor/api/singletons/root/cron"
    value = json.loads(
        d.registration_value(
            url="http://10.0.0.5:8080",
            instance="a",
            started_at=1.5,
            metadata={"zone": "b"},
        )
    )
    assert value == {
        "url": "http://10.0.0.5:8080",
        "address": "10.0.0.5",
        "port": 8080,
        "instance": "a",
        "started_at": 1.5,
        "metadata": {"zone": "b"},
    }
    assert d.default_instance("web1", 8080) == "web1-8080"
    assert d.default_instance("web1", None) == "web1"
