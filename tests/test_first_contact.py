"""
A new user's first hour: the version, the CLI's help, the licence, and
`./dev demo` installing only what the demo needs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tomllib
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import pytest

import supervisor
from supervisor import _version
from supervisor.cli import _main as _cli

ROOT = Path(__file__).resolve().parent.parent


# --- version -----------------------------------------------------------------


def test_version_is_the_installed_distributions() -> None:
    """
    supervisor.__version__ is trio-supervisor's, as pyproject.toml declares it.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    assert project["name"] == _version.DISTRIBUTION
    assert project["version"] == supervisor.__version__


def test_version_of_an_uninstalled_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    Imported from a source tree that was never installed, the version says so
    instead of failing the import.
    """

    def not_installed(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(_version, "version", not_installed)

    assert "0+unknown" == _version.installed_version()


def test_cli_prints_its_version(capsys: pytest.CaptureFixture[str]) -> None:
    """
    `supervisor --version` names the distribution and its version, exit 0.
    """
    with pytest.raises(SystemExit) as exit_:
        _cli.main(["--version"])

    assert 0 == exit_.value.code
    assert f"supervisor (trio-supervisor) {supervisor.__version__}\n" == (
        capsys.readouterr().out
    )


# --- help --------------------------------------------------------------------


def _parsers(monkeypatch: pytest.MonkeyPatch) -> dict[str, argparse.ArgumentParser]:
    """The top-level parser main() builds, and its subcommands' parsers."""
    built: list[argparse.ArgumentParser] = []

    def capture(self: argparse.ArgumentParser, *args: object) -> argparse.Namespace:
        built.append(self)
        raise SystemExit(0)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(SystemExit):
        _cli.main([])
    [top] = built
    [sub] = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    return {"supervisor": top, **{f"supervisor {n}": p for n, p in sub.choices.items()}}


def test_every_cli_option_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    `--help` of the command and of each subcommand explains every argument,
    and each subcommand says what it does.
    """
    parsers = _parsers(monkeypatch)
    unexplained = [
        f"{name} {action.dest}"
        for name, parser in parsers.items()
        for action in parser._actions
        if not action.help or action.help == argparse.SUPPRESS
    ]

    assert {"supervisor", "supervisor run", "supervisor status"} <= set(parsers)
    assert [] == unexplained
    assert all(parser.description for parser in parsers.values())


def test_help_is_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    --help prints text verbatim: no reStructuredText markup from docstrings.
    """
    for name, parser in _parsers(monkeypatch).items():
        text = parser.format_help()

        assert "``" not in text, name
        assert ":func:" not in text, name
        assert ":class:" not in text, name


# --- licence -----------------------------------------------------------------


def test_license_file_matches_pyproject() -> None:
    """
    pyproject.toml says MIT; the LICENSE file it ships is the MIT licence.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "LICENSE").read_text()

    assert "MIT" == project["license"]
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 The trio-supervisor developers" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


# --- ./dev installs per command ----------------------------------------------

_FAKE_PYTHON = """#!/bin/sh
echo "python $*" >> "$DEV_CALLS"
"""
_FAKE_TOOL = """#!/bin/sh
echo "$(basename "$0") $*" >> "$DEV_CALLS"
"""


def _dev(tmp_path: Path, *args: str) -> list[str]:
    """Run a copy of ./dev against a stand-in .venv that records each call."""
    (tmp_path / "dev").write_text((ROOT / "dev").read_text())
    (tmp_path / "dev").chmod(0o755)
    if not (tmp_path / "pyproject.toml").exists():  # then older than the stamps
        (tmp_path / "pyproject.toml").write_text("")
    bin_ = tmp_path / ".venv" / "bin"
    bin_.mkdir(parents=True, exist_ok=True)
    for name, script in [
        ("python", _FAKE_PYTHON),
        ("supervisor", _FAKE_TOOL),
        ("ruff", _FAKE_TOOL),
        ("mypy", _FAKE_TOOL),
    ]:
        (bin_ / name).write_text(script)
        (bin_ / name).chmod(0o755)
    calls = tmp_path / "calls"
    calls.write_text("")
    subprocess.run(
        [str(tmp_path / "dev"), *args],
        check=True,
        env={**os.environ, "DEV_CALLS": str(calls)},
        timeout=60,
    )
    return calls.read_text().splitlines()


def test_dev_demo_installs_only_the_package(tmp_path: Path) -> None:
    """
    `./dev demo` installs the package and runs it: no test or lint toolchain.
    """
    calls = _dev(tmp_path, "demo", "--http", "127.0.0.1:8081")

    assert [
        "python -m pip install --quiet -e .[cli]",
        "supervisor run examples/demo.py:tree --http 127.0.0.1:8080 --http 127.0.0.1:8081",
    ] == calls


def test_dev_keeps_one_stamp_per_install_set(tmp_path: Path) -> None:
    """
    lint installs its group once; demo after it still installs only the
    package, once; a second demo installs nothing.
    """
    lint = _dev(tmp_path, "lint")
    demo = _dev(tmp_path, "demo")
    again = _dev(tmp_path, "demo")
    lint_again = _dev(tmp_path, "lint")

    assert "python -m pip install --quiet -e . --group lint" in lint
    assert not [c for c in lint if "--group dev" in c or "--group tests" in c]
    assert ["python -m pip install --quiet -e .[cli]"] == [
        c for c in demo if "pip" in c
    ]
    assert [] == [c for c in again + lint_again if "pip" in c]
