"""The fleet flags of ``supervisor run`` and ``--checks``: what they accept and refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor import Check, EtcdOptions
from supervisor.cli import _main as _cli
from supervisor.cli._fleet import FleetUsageError

APP = Path(__file__).resolve().parent.parent / "integrations" / "fleet_app.py"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = _cli.main(["run", f"{APP}:tree", *argv])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--etcd", "http://127.0.0.1:2379"], "--etcd needs --service NAME"),
        (["--service", "jobs"], "need --etcd"),
        (["--etcd", "ftp://x", "--service", "s"], "--etcd must be http(s)://HOST:PORT"),
        (
            ["--etcd", "http://h:1", "--service", "a/b"],
            "--service must be a non-empty name",
        ),
        (
            ["--etcd", "http://h:1", "--service", "s", "--etcd-ttl", "1"],
            "--etcd-ttl must be whole seconds",
        ),
        (
            ["--etcd", "http://h:1", "--service", "s", "--advertise", "nope"],
            "--advertise must be the URL",
        ),
        (
            ["--etcd", "http://h:99999", "--service", "s"],
            "--etcd must be http(s)://HOST:PORT URLs with a port 0-65535",
        ),
        (
            ["--etcd", "http://h:2379/v3/kv?x=1", "--service", "s"],
            "--etcd must be http(s)://HOST:PORT URLs without a path or query",
        ),
        (
            ["--etcd", "http://h:1", "--service", "s", "--instance", "a/b"],
            "--instance must be a non-empty name without '/'",
        ),
        (
            ["--etcd", "http://h:1", "--service", "s", "--etcd-ttl", "-5"],
            "--etcd-ttl must be whole seconds from 2 to 3600",
        ),
        (
            ["--etcd", "http://h:1", "--service", "s", "--etcd-ttl", "3601"],
            "--etcd-ttl must be whole seconds from 2 to 3600",
        ),
        (
            ["--etcd", "http://h:1", "--service", "s", "--advertise", "http://h:0x"],
            "--advertise must be the URL",
        ),
        (["--checks", f"{APP}:nothing"], "has no 'nothing'"),
        (["--checks", f"{APP}:tree"], "not a list of Check specs"),
        ([], "singleton=True needs a fleet coordinator"),  # the spec has one
    ],
)
def test_refused_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, err = run(capsys, *argv)
    assert code == _cli.EXIT_USAGE
    assert message in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--etcd", "http://root:s3cret@127.0.0.1:2379", "--service", "s"],
        ["--etcd", "http://h:1,ftp://root:s3cret@h", "--service", "s"],
        [
            "--etcd",
            "http://h:1",
            "--service",
            "s",
            "--advertise",
            "http://u:s3cret@h:1",
        ],
    ],
)
def test_credentials_in_a_url_are_refused_and_never_printed(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    # They would be in every outage's log line and /status reason (and etcd
    # reads no credentials from a URL): refused, naming the flag, not the secret.
    code, err = run(capsys, *argv)
    assert code == _cli.EXIT_USAGE
    assert err.startswith(("supervisor: --etcd ", "supervisor: --advertise "))
    assert "s3cret" not in err
    assert "***@" in err


@pytest.mark.parametrize("env", [{"MY_ETCD": "root"}, {"MY_ETCD_PASSWORD": "s3cret"}])
def test_a_user_without_a_password_or_the_reverse_is_refused(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    argv = ["--etcd", "http://h:1", "--service", "s", "--etcd-user-env", "MY_ETCD"]
    code, err = run(capsys, *argv)
    assert code == _cli.EXIT_USAGE
    assert err.startswith("supervisor: --etcd-user-env: $MY_ETCD")
    assert "s3cret" not in err
    assert "root" not in err


def test_loads_checks_from_a_file_or_a_function() -> None:
    checks = _cli.load_checks(f"{APP}:checks")
    assert [c.name for c in checks] == ["flag"]
    assert all(isinstance(c, Check) for c in checks)


def test_the_flags_make_etcd_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERVISOR_ETCD_USER", "root")
    monkeypatch.setenv("SUPERVISOR_ETCD_USER_PASSWORD", "pw")
    parser = _cli.argparse.ArgumentParser()
    _cli.add_fleet_arguments(parser)
    args = parser.parse_args(
        [
            "--etcd",
            "http://a:2379,http://b:2379/",
            "--service",
            "jobs",
            "--etcd-ttl",
            "5",
        ]
    )
    options = _cli.fleet_options(args)
    assert options == EtcdOptions(
        endpoints=("http://a:2379", "http://b:2379"),
        service="jobs",
        ttl=5,
        username="root",
        password="pw",
    )
    assert "pw" not in repr(options)
    with pytest.raises(FleetUsageError):
        _cli.fleet_options(parser.parse_args(["--instance", "x"]))
