"""
The tree observer and the service protocol: every surface reads the tree
through `Tree.observer`; the HTTP server and the checks plug in as services;
the calls that moved off `Tree` warn for a release, naming their replacement.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import attrs
import pytest
import trio

from supervisor import (
    Check,
    Child,
    HealthApp,
    Supervisor,
    Tree,
    open_tree,
    run,
)
from supervisor._entry import services
from supervisor._options import TreeOptions
from supervisor._runtime.services import CheckRunners, Service
from supervisor.http._server import HttpServer
from tests.http.test_http_fuzz import call
from tests.test_bad_input import request


async def worker() -> None:
    await trio.sleep_forever()


async def passing() -> None:
    return None


def spec() -> Supervisor:
    return Supervisor(name="root", children=[Child(name="w", target=worker)])


async def test_changed_waits_for_the_next_version(autojump_clock: Any) -> None:
    """`observer.changed(v)` returns at once if the tree moved past v, else on its next change."""
    async with open_tree(spec(), loop_block_threshold=None) as tree:
        observer = tree.observer
        since = observer.version
        assert since == await observer.changed(since - 1)
        seen: list[int] = []

        async def wait() -> None:
            seen.append(await observer.changed(since))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait)
            await trio.sleep(1)
            assert [] == seen  # nothing changed: still waiting
            await tree.restart_child("root/w")
        assert len(seen) == 1
        assert seen[0] > since


async def test_every_surface_shares_the_trees_one_cache() -> None:
    """Two apps on one tree answer from the same snapshot (the observer's), not two."""
    async with open_tree(spec(), loop_block_threshold=None) as tree:
        first, second = HealthApp(tree), HealthApp(tree)
        assert first.snapshot() is second.snapshot() is tree.observer.snapshot()


async def test_status_verdicts_are_the_probes_verdicts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    /status states its verdicts from the facts the probes use (the observer's
    live walk), not from a second reading of the snapshot: the two agree.
    """
    async with open_tree(spec(), loop_block_threshold=None) as tree:
        app = HealthApp(tree)
        facts = tree.observer.facts()
        stale = attrs.evolve(facts, laggards=["root/w"])
        monkeypatch.setattr(tree.observer, "facts", lambda fresh=False: stale)
        probe, _ = await call(app, request("GET", "/readyz"))
        _, body = await call(app, request("GET", "/status"))
    assert 503 == probe
    assert {"livez": True, "readyz": False, "healthz": False} == json.loads(body)[
        "verdicts"
    ]


MOVED = [
    ("probe_facts", "Tree.observer.facts()"),
    ("walk_children", "Tree.observer.facts()"),
    ("not_ready_children", "Tree.observer.facts().laggards"),
    ("check_states", "Tree.observer.checks()"),
    ("asgi_app", "supervisor.HealthApp(tree, ...)"),
]


@pytest.mark.parametrize(("name", "replacement"), MOVED)
async def test_a_moved_call_warns_naming_its_replacement(
    name: str, replacement: str
) -> None:
    async with open_tree(spec(), loop_block_threshold=None) as tree:
        with pytest.warns(DeprecationWarning, match=re.escape(replacement)):
            result = getattr(tree, name)()
        assert result is not None


async def test_shutting_down_moved_to_the_observer() -> None:
    async with open_tree(spec(), loop_block_threshold=None) as tree:
        with pytest.warns(DeprecationWarning, match="Tree.observer.shutting_down"):
            assert tree.shutting_down is False
        assert tree.observer.shutting_down is False


def test_the_options_become_services_http_first() -> None:
    options = TreeOptions(http="127.0.0.1:0", checks=[Check(name="db", fn=passing)])
    made = services(options)
    assert [HttpServer, CheckRunners] == [type(s) for s in made]
    assert [] == services(TreeOptions())


@attrs.define
class Recorder(Service[Tree]):
    """A service of its own: a child under _system, and work around the run."""

    log: list[str]
    fail_open: bool = False

    def children(self, tree: Tree) -> Sequence[Child]:
        async def part() -> None:
            self.log.append("part")
            await trio.sleep_forever()

        return [Child(name="part", target=part)]

    def opened(self, tree: Tree) -> AbstractAsyncContextManager[object]:
        return self._around()

    @asynccontextmanager
    async def _around(self) -> Any:
        self.log.append("opened")
        if self.fail_open:
            raise OSError("cannot open")
        try:
            yield
        finally:
            self.log.append("closed")


async def test_a_service_opens_first_runs_under_system_and_closes_last(
    autojump_clock: Any,
) -> None:
    log: list[str] = []
    root_spec = Supervisor(name="root", children=[Child(name="w", target=worker)])

    def started(tree: Tree) -> None:
        log.append("root started")
        assert [c.path for c in tree.snapshot().system.children] == [  # type: ignore[union-attr]
            "_system/part"
        ]
        tree.request_stop()

    options = TreeOptions(loop_block_threshold=None, started=started)
    await Tree(root_spec, options, [Recorder(log)], _private=True)._run_root()
    assert ["opened", "part", "root started", "closed"] == log


async def test_a_service_that_cannot_open_fails_the_run_bare_before_any_child(
    autojump_clock: Any,
) -> None:
    log: list[str] = []
    options = TreeOptions(loop_block_threshold=None)
    tree = Tree(spec(), options, [Recorder(log, fail_open=True)], _private=True)
    with pytest.raises(OSError, match="cannot open"):
        await tree._run_root()
    assert ["opened"] == log


async def test_run_still_takes_http_and_checks(autojump_clock: Any) -> None:
    """The sugar: run(spec, checks=...) wires the checks service (its child runs)."""
    seen: list[str] = []

    async def probe() -> None:
        seen.append("checked")

    def started(tree: Tree) -> None:
        tree.request_stop()

    await run(
        spec(),
        loop_block_threshold=None,
        checks=[Check(name="db", fn=probe)],
        started=started,
    )
    assert seen
