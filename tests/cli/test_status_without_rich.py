"""
`supervisor status` without the optional ``cli`` extra (rich): the same lines
as plain text, a note on stderr saying how to install the extra, and the exit
code an exec probe reads unchanged.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import httpx
import pytest

from supervisor.cli import _main as _cli
from supervisor.cli._status import INSTALL_RICH


def _document(healthz: bool) -> dict[str, Any]:
    leaf = {
        "name": "worker\x1b[31m",
        "state": "backoff",
        "restarts": 3,
        "children": [],
        "last_exit": {"reason": "crash", "exc_type": "OSError", "exc_message": "down"},
    }
    inner = {"name": "inner", "state": "running", "restarts": 0, "children": [leaf]}
    root = {"name": "root", "state": "running", "restarts": 0, "children": [inner]}
    return {
        "tree": {"root": root},
        "verdicts": {"livez": True, "readyz": True, "healthz": healthz},
        "checks": [{"name": "db", "status": "fail", "last_error": "refused"}],
    }


@pytest.fixture
def no_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import rich...` raise ImportError.
    for name in [m for m in sys.modules if m == "rich" or m.startswith("rich.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "rich", None)


def _answer(monkeypatch: pytest.MonkeyPatch, document: dict[str, Any]) -> None:
    def get(url: str, **kwargs: Any) -> httpx.Response:
        body = json.dumps(document).encode()
        return httpx.Response(200, content=body, request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx, "get", get)


@pytest.mark.usefixtures("no_rich")
@pytest.mark.parametrize(("healthz", "code"), [(True, 0), (False, 1)])
def test_plain_tree_and_how_to_install_rich(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    healthz: bool,
    code: int,
) -> None:
    _answer(monkeypatch, _document(healthz))

    assert code == _cli.main(["status", "http://127.0.0.1:1"])

    out, err = capsys.readouterr()
    verdict = "healthz ok" if healthz else "healthz failing"
    assert out.splitlines() == [
        f"root running    livez ok  readyz ok  {verdict}",
        "    inner running",
        "        worker\\x1b[31m backoff  restarts 3  last: crash OSError: down",
        "check db fail - refused",
    ]
    assert err == INSTALL_RICH + "\n"
    assert "pip install 'trio-supervisor[cli]'" in err


@pytest.mark.usefixtures("no_rich")
def test_json_needs_no_extra_and_no_note(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _answer(monkeypatch, _document(True))

    assert 0 == _cli.main(["status", "http://127.0.0.1:1", "--json"])

    out, err = capsys.readouterr()
    assert json.loads(out)["verdicts"]["healthz"] is True
    assert err == ""


def test_with_rich_no_note(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("rich")
    _answer(monkeypatch, _document(True))

    assert 0 == _cli.main(["status", "http://127.0.0.1:1"])

    out, err = capsys.readouterr()
    assert "worker\\x1b[31m" in out
    assert "\x1b" not in out
    assert err == ""
