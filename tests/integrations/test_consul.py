"""
`supervisor consul-service`: the service definition it prints has the shape of
the body of Consul's ``PUT /v1/agent/service/register`` (field names and types
as Consul's API documents them; durations in Go's syntax), with an HTTP check
on the tree's /readyz. Generated only: no Consul server is run here.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from supervisor import SpecError
from supervisor.cli import _main as _cli
from supervisor.http._routes import ROUTES
from supervisor.integrations.consul import go_duration, service_definition

# Consul's documented registration fields (agent service register: the service
# and its check), with the JSON type each takes. A field outside these is one
# Consul's agent rejects ("unknown field") or ignores.
SERVICE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "ID": str,
    "Name": str,
    "Tags": list,
    "Address": str,
    "TaggedAddresses": dict,
    "Meta": dict,
    "Port": int,
    "Kind": str,
    "Proxy": dict,
    "Connect": dict,
    "Check": dict,
    "Checks": list,
    "EnableTagOverride": bool,
    "Weights": dict,
    "Namespace": str,
    "Partition": str,
}
CHECK_FIELDS: dict[str, type | tuple[type, ...]] = {
    "CheckID": str,
    "Name": str,
    "Notes": str,
    "Status": str,
    "Interval": str,
    "Timeout": str,
    "HTTP": str,
    "Method": str,
    "Header": dict,
    "Body": str,
    "DisableRedirects": bool,
    "TLSServerName": str,
    "TLSSkipVerify": bool,
    "TCP": str,
    "UDP": str,
    "GRPC": str,
    "GRPCUseTLS": bool,
    "H2PING": str,
    "TTL": str,
    "Args": list,
    "DockerContainerID": str,
    "Shell": str,
    "AliasNode": str,
    "AliasService": str,
    "SuccessBeforePassing": int,
    "FailuresBeforeWarning": int,
    "FailuresBeforeCritical": int,
    "DeregisterCriticalServiceAfter": str,
    "OutputMaxSize": int,
}
CHECK_DURATIONS = ("Interval", "Timeout", "DeregisterCriticalServiceAfter")
GO_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")


def go_seconds(text: str) -> float:
    unit = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    return sum(
        float(n) * unit[u]
        for n, u in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    )


def assert_consul_shape(definition: dict[str, Any]) -> None:
    for fields, doc in (
        (SERVICE_FIELDS, definition),
        (CHECK_FIELDS, definition["Check"]),
    ):
        assert set(doc) <= set(fields), set(doc) - set(fields)
        for key, value in doc.items():
            assert isinstance(value, fields[key]), (key, value)
            assert not isinstance(value, bool) or fields[key] is bool, key
    check = definition["Check"]
    for key in CHECK_DURATIONS:
        assert GO_DURATION.match(check[key]), (key, check[key])
    # An HTTP check needs an interval; Consul refuses a deregistration under 1m.
    assert go_seconds(check["Timeout"]) < go_seconds(check["Interval"])
    assert go_seconds(check["DeregisterCriticalServiceAfter"]) >= 60
    assert check["FailuresBeforeCritical"] >= 1
    assert all(isinstance(tag, str) for tag in definition["Tags"])


def test_the_definition_has_consuls_shape_and_checks_readyz() -> None:
    definition = service_definition(
        service="orders", http="10.1.2.3:8080", tags=["trio"], failures=5
    )

    assert_consul_shape(definition)
    assert ("orders", "10.1.2.3", 8080, ["trio"]) == (
        definition["Name"],
        definition["Address"],
        definition["Port"],
        definition["Tags"],
    )
    check = definition["Check"]
    assert "http://10.1.2.3:8080/readyz" == check["HTTP"]
    assert "readyz" in ROUTES  # the path the tree serves
    assert (5, "10s", "2s", "300s") == (
        check["FailuresBeforeCritical"],
        check["Interval"],
        check["Timeout"],
        check["DeregisterCriticalServiceAfter"],
    )


def test_the_command_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    """The subcommand prints exactly the definition, as JSON; --id names the instance."""
    code = _cli.main(
        [
            "consul-service",
            "--service",
            "orders",
            "--http",
            "[fd00::5]:9000",
            "--id",
            "o-1",
        ]
    )
    printed = json.loads(capsys.readouterr().out)

    assert 0 == code
    assert (
        service_definition(service="orders", http="[fd00::5]:9000", service_id="o-1")
        == printed
    )
    assert_consul_shape(printed)
    assert ("o-1", "o-1:readyz", "http://[fd00::5]:9000/readyz") == (
        printed["ID"],
        printed["Check"]["CheckID"],
        printed["Check"]["HTTP"],
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--http", "0.0.0.0:8080"], "the address the Consul agent polls"),
        (["--http", "10.0.0.1:0"], "the address the Consul agent polls"),
        (["--http", "nope"], "HOST:PORT"),
        (["--http", "10.0.0.1:80", "--timeout", "10"], "shorter than the interval"),
        (["--http", "10.0.0.1:80", "--deregister-after", "30"], "at least 60 s"),
        (["--http", "10.0.0.1:80", "--failures", "0"], "integer >= 1"),
    ],
)
def test_wrong_options_exit_2_with_the_reason(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _cli.main(["consul-service", "--service", "orders", *args])
    captured = capsys.readouterr()

    assert (2, "") == (code, captured.out)
    assert says in captured.err


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(10, "10s"), (0.5, "500ms"), (2.25, "2250ms"), (3600, "3600s")],
)
def test_durations_in_gos_syntax(seconds: float, text: str) -> None:
    assert text == go_duration(seconds)
    assert GO_DURATION.match(text)
    assert seconds == go_seconds(text)


def test_a_blank_service_name_is_refused() -> None:
    with pytest.raises(SpecError, match="service must be a non-empty name"):
        service_definition(service=" ", http="10.0.0.1:80")
