"""
schemathesis against docs/openapi.yaml and a tree served in its own process:
generated requests never get a 5xx other than a probe's 503, answers match the
documented status codes, and without the token the tree never changes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import settings

HERE = Path(__file__).resolve().parent
TOKEN = "openapi-token"
schema = schemathesis.openapi.from_path(HERE.parents[1] / "docs" / "openapi.yaml")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_served_tree.py"), TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    url = f"http://{address}"
    before = _fingerprint(url)
    try:
        yield url
        assert before == _fingerprint(url), (
            "a request without the token changed the tree"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()


def _fingerprint(url: str) -> list[tuple[str, str, int]]:
    status = httpx.get(
        f"{url}/status", headers={"authorization": f"Bearer {TOKEN}"}
    ).json()
    nodes, todo = [], [status["tree"]["root"]]
    while todo:
        node = todo.pop()
        nodes.append((node["path"], node["state"], node["starts"]))
        todo.extend(node["children"])
    return sorted(nodes)


@schema.parametrize()
@settings(max_examples=40, deadline=None)
def test_api(case: schemathesis.Case, base_url: str) -> None:
    """
    No 5xx but a probe's 503; every status code is one the description lists.
    """
    response = case.call(base_url=base_url, timeout=10)
    probe = case.path.split("/")[1] in ("livez", "readyz", "healthz")

    assert response.status_code < 500 or (response.status_code == 503 and probe)
    documented = set(case.operation.definition.raw["responses"])
    if case.method.upper() != case.operation.method.upper():
        documented.add("405")  # schemathesis also tries methods the path does not take
    assert str(response.status_code) in documented, (
        case.method,
        case.path,
        response.status_code,
    )


def test_the_description_lists_exactly_the_routes_of_the_table() -> None:
    """
    docs/openapi.yaml and the route table (`supervisor.http._routes.ROUTES`) agree: every
    route with its methods (HEAD goes with GET), and a ``/NAME`` form for the
    routes that take one; no path the table does not serve.
    """
    import yaml  # noqa: PLC0415 - schemathesis' dependency; only this test reads YAML

    from supervisor.http._routes import ROUTES  # noqa: PLC0415 - the table under test

    paths = yaml.safe_load((HERE.parents[1] / "docs" / "openapi.yaml").read_text())[
        "paths"
    ]
    described = {
        path: {m.upper() for m in item if m in ("get", "post", "put", "delete")}
        for path, item in paths.items()
    }
    expected: dict[str, set[str]] = {}
    for segment, route in ROUTES.items():
        methods = set(route.methods) - {"HEAD"}
        if segment == "control":  # only ever with an action and a path
            expected["/control/{action}/{path}"] = methods
            continue
        expected[f"/{segment}"] = methods
        if route.suffix:
            expected[f"/{segment}/{{check}}"] = methods

    assert expected == described
