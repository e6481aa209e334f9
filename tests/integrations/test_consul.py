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
from supervisor.integrations.consul import (
    MAX_DURATION,
    go_duration,
    parse_reachable,
    service_definition,
)

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
    with pytest.raises(SpecError, match="service must be 1-255 letters"):
        service_definition(service=" ", http="10.0.0.1:80")


@pytest.mark.parametrize(
    "http",
    [
        "10.0.0.5:8080",
        "127.0.0.1:1",
        "[fd00::5]:65535",
        "[::1]:80",
        "localhost:8080",
        "app-1.internal:8080",
        "A1.example.COM:443",
        f"{'a' * 63}.example:80",
    ],
)
def test_reachable_addresses_are_ip_literals_or_rfc1123_names(http: str) -> None:
    host, port = parse_reachable(http)
    definition = service_definition(service="orders", http=http)

    assert http == (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    assert f"http://{http}/readyz" == definition["Check"]["HTTP"]
    assert_consul_shape(definition)


@pytest.mark.parametrize(
    "http",
    [
        "h@evil.com:80",  # a user: the URL's host would be evil.com
        "e?v:80",
        "x#y:80",
        "x%2f:80",
        "a/b:80",
        "exämple.com:80",  # not ASCII (IDNA is the operator's to encode)
        "-bad.example:80",
        "bad-.example:80",
        "a..b:80",
        ".a:80",
        f"{'a' * 64}.example:80",
        f"{'a.' * 127}a:80",  # 255 characters
        "1.2.3:80",  # all-numeric: an address read some resolver's way
        "010.0.0.1:80",
        "[10.0.0.1]:80",
        "fd00::5:80",  # an IPv6 address goes in brackets
        "[fe80::1%eth0]:80",
        "[fd00::5]:80x",
        "host:+80",
        "host:٨٠",  # Arabic-Indic digits
        "host:65536",
        "host name:80",
        "host\n:80",
        ":80",
        "host",
    ],
)
def test_anything_else_is_refused_naming_the_flag(
    http: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _cli.main(["consul-service", "--service", "orders", f"--http={http}"])
    err = capsys.readouterr().err

    assert 2 == code
    assert err.startswith("supervisor consul-service: --http must be HOST:PORT"), err
    assert "an IP address or an RFC 1123 host name" in err
    assert "0.0.0.0" not in err
    assert "port 0" not in err
    assert "(0:" not in err


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--service", "a/b?c#d"),
        ("--service", ""),
        ("--service", "orders api"),
        ("--service", "orders\nx"),
        ("--service", "ördérs"),
        ("--service", "-orders"),
        ("--service", "x" * 256),
        ("--id", "../../x"),
        ("--id", ""),
        ("--id", ".."),
        ("--id", "o 1"),
        ("--id", "o-1\n"),
        ("--id", "o:1"),
        ("--id", "y" * 256),
    ],
)
def test_names_and_ids_are_consul_safe(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = {"--service": "orders", "--id": "o-1", flag: value}
    code = _cli.main(
        [
            "consul-service",
            "--http",
            "10.0.0.1:80",
            *(f"{k}={v}" for k, v in args.items()),
        ]
    )
    err = capsys.readouterr().err

    assert 2 == code
    assert err.startswith(f"supervisor consul-service: {flag} must be 1-255 letters"), (
        err
    )
    assert "\n" not in err.rstrip("\n")  # the value shown escaped, on one line


def test_the_longest_names_pass_and_the_default_id_is_consul_safe() -> None:
    longest = service_definition(
        service="s" * 255, http="10.0.0.1:80", service_id="i" * 255
    )
    v6 = service_definition(service="orders", http="[fd00::5]:9000")

    assert ("s" * 255, "i" * 255) == (longest["Name"], longest["ID"])
    assert "orders-fd00--5-9000" == v6["ID"]
    with pytest.raises(SpecError, match=r"service_id .*\(NAME-HOST-PORT: give one\)"):
        service_definition(service="s" * 250, http="10.0.0.1:80")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--interval", "1e300"],
            "--interval must be at least 0.001 s and at most 9223372036 s",
        ),
        (["--interval", "inf"], "--interval must be at least 0.001 s and at most"),
        (["--interval", "nan"], "--interval must be at least 0.001 s and at most"),
        (["--interval", "0.0001"], "--interval must be at least 0.001 s"),
        (["--deregister-after", "1e30"], "--deregister-after must be at least 60 s"),
        (
            ["--failures", str(10**20)],
            "--failures must be an integer >= 1 and <= 2147483647",
        ),
        (["--failures", "2147483648"], "--failures must be an integer >= 1"),
        (["--timeout", "20"], "--timeout must be > 0 and shorter than the interval"),
    ],
)
def test_numbers_go_can_parse(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _cli.main(
        ["consul-service", "--service", "orders", "--http", "10.0.0.1:80", *args]
    )
    err = capsys.readouterr().err

    assert 2 == code
    assert f"supervisor consul-service: {says}" in err


def test_failures_1e20_is_not_an_integer(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse's int refuses it itself, naming the flag (exit 2)."""
    with pytest.raises(SystemExit) as exited:
        _cli.main(
            [
                "consul-service",
                "--service",
                "o",
                "--http",
                "10.0.0.1:80",
                "--failures",
                "1e20",
            ]
        )

    assert 2 == exited.value.code
    assert "--failures" in capsys.readouterr().err


def test_the_largest_values_fit_gos_int64_nanoseconds() -> None:
    definition = service_definition(
        service="orders",
        http="10.0.0.1:80",
        interval=MAX_DURATION,
        timeout=MAX_DURATION - 1,
        deregister_after=MAX_DURATION,
        failures=2**31 - 1,
    )
    check = definition["Check"]

    assert_consul_shape(definition)
    for key in CHECK_DURATIONS:
        assert go_seconds(check[key]) * 10**9 <= 2**63 - 1, key
    assert 2**31 - 1 == check["FailuresBeforeCritical"]
