"""
Public seams: the CLI and the test kit reach the tree through public calls (and
one private fault-injection seam); one frozen `TreeOptions` holds the options
`run` and `open_tree` take.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

import supervisor
from supervisor import Child, SpecError, Supervisor, Tree, open_tree, run
from supervisor._options import TreeOptions
from supervisor._runtime.node import Node
from supervisor._runtime.slot import Slot

PACKAGE = Path(supervisor.__file__).parent

# Internal names a surface may import, beyond the package's public ones.
ALLOWED_PRIVATE_IMPORTS = {
    "cli/_main.py": {
        ("_bind", "parse_bind"),  # --http is validated as HttpOptions would
        ("_spec", "SupervisorSpec"),  # a type alias
        ("_validators", "is_async_callable"),
        ("_status", "status"),  # its own package
        ("_load", "SpecLoadError"),  # its own package: module:attr loading
        ("_load", "load_spec"),
        ("_load", "load_checks"),
        ("_fleet", "FleetUsageError"),  # its own package: the --etcd flags
        ("_fleet", "add_fleet_arguments"),
        ("_fleet", "fleet_options"),
        ("_version", "DISTRIBUTION"),
        ("_version", "__version__"),
        # A forced exit (os._exit) SIGKILLs the Process groups first: no tree call
        # can run by then, and each group leads a session nothing else would stop.
        ("_runtime.process_groups", "kill_live_groups"),
    },
    "cli/_load.py": {
        ("_spec", "SupervisorSpec"),  # a type alias
        ("_validators", "is_async_callable"),
    },
    "testing.py": {
        ("_runtime", "faults"),  # the one fault-injection seam
        ("_spec", "SupervisorSpec"),
    },
}
ALLOWED_PRIVATE_ATTRIBUTES = {("os", "_exit")}


def _private_uses(source: str) -> tuple[set[tuple[str, str]], set[str]]:
    """(module, name) imported from the package's private modules; `x._y` accesses."""
    tree = ast.parse(source)
    imports: set[tuple[str, str]] = set()
    attributes: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            module = node.module or ""
            for alias in node.names:
                if (
                    module.startswith("_")
                    or alias.name.startswith("_")
                    or module == "_runtime"
                ):
                    imports.add((module, alias.name))
        elif (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            owner = node.value.id if isinstance(node.value, ast.Name) else "?"
            if (owner, node.attr) not in ALLOWED_PRIVATE_ATTRIBUTES:
                attributes.add(f"{owner}.{node.attr} (line {node.lineno})")
        elif isinstance(node, ast.keyword) and (node.arg or "").startswith("_"):
            attributes.add(f"{node.arg}= (line {node.lineno})")  # Tree(_private=True)
    return imports, attributes


@pytest.mark.parametrize("module", sorted(ALLOWED_PRIVATE_IMPORTS))
def test_the_cli_and_the_test_kit_use_public_seams_only(module: str) -> None:
    """
    No `tree._x`, `node.inject`, `Tree(..., _private=True)`: the surfaces touch no
    private attribute at all, and import from private modules only public names
    (re-exported by `supervisor`) or the few listed internals.
    """
    imports, attributes = _private_uses((PACKAGE / module).read_text())
    assert attributes == set()
    public = set(supervisor.__all__)
    internal = {(m, name) for m, name in imports if name not in public}
    assert internal <= ALLOWED_PRIVATE_IMPORTS[module]
    for _, name in imports:
        assert name not in {"Node", "Slot", "make_slot"}


def test_the_scan_finds_what_the_surfaces_used_to_do() -> None:
    imports, attributes = _private_uses(
        "from ._node import Node\n"
        "tree = Tree(spec, http=http, _private=True)\n"
        "await tree._run_root()\n"
        "node, slot = tree._child(path)\n"
    )
    assert ("_node", "Node") in imports
    assert {a.split(" ")[0] for a in attributes} == {
        "_private=",
        "tree._run_root",
        "tree._child",
    }


def test_run_and_open_tree_take_exactly_the_options_fields() -> None:
    fields = [f.name for f in attrs.fields(TreeOptions)]
    for entry in (run, open_tree):
        keywords = [
            p.name
            for p in inspect.signature(entry).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        ]
        assert keywords == fields
        defaults = {
            p.name: p.default
            for p in inspect.signature(entry).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        assert defaults == {f.name: f.default for f in attrs.fields(TreeOptions)}


def test_options_are_frozen_converted_and_validated_naming_the_field() -> None:
    options = TreeOptions(http="127.0.0.1:0", checks=[])
    assert options.http == supervisor.HttpOptions(bind="127.0.0.1:0")
    assert options.checks == ()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        options.http = None  # type: ignore[misc]
    bad: list[tuple[str, dict[str, Any]]] = [
        ("loop_block_threshold", {"loop_block_threshold": 0}),
        ("loop_block_threshold", {"loop_block_threshold": True}),
        ("http", {"http": 8080}),
        ("checks", {"checks": ["db"]}),
        ("checks", {"checks": 3}),
        ("started", {"started": "gc"}),
        ("opened", {"opened": 1}),
    ]
    for field, kwargs in bad:
        with pytest.raises(SpecError) as excinfo:
            TreeOptions(**kwargs)
        assert (excinfo.value.path, excinfo.value.field) == ("options", field)


async def test_opened_comes_before_any_child_and_started_after_all(
    autojump_clock: Any,
) -> None:
    seen: list[str] = []

    async def worker(name: str, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await trio.sleep(1)
        seen.append(f"{name} up")
        task_status.started()
        await trio.sleep_forever()

    spec = Supervisor(
        name="root",
        children=[Child(name=n, target=worker, args=(n,)) for n in ("a", "b")],
    )
    trees: list[Tree] = []

    def opened(tree: Tree) -> None:
        trees.append(tree)
        seen.append("opened")

    def started(tree: Tree) -> None:
        assert tree is trees[0]
        seen.append(f"started at {trio.current_time():g}")
        tree.request_stop()

    await run(spec, loop_block_threshold=None, opened=opened, started=started)
    assert seen == ["opened", "a up", "b up", "started at 2"]


async def test_a_failing_started_hook_stops_the_tree_in_order(
    autojump_clock: Any,
) -> None:
    stopped: list[str] = []

    async def worker(name: str) -> None:
        try:
            await trio.sleep_forever()
        finally:
            stopped.append(name)

    spec = Supervisor(
        name="root",
        children=[Child(name=n, target=worker, args=(n,)) for n in ("a", "b")],
    )

    def started(tree: Tree) -> None:
        raise KeyError("hook")

    with pytest.raises(KeyError, match="hook"):
        await run(spec, loop_block_threshold=None, started=started)
    assert stopped == ["b", "a"]


def test_the_runtime_carries_no_test_only_hooks() -> None:
    """
    A hang is a beat clock that stands still (`supervisor._runtime.faults.hang`), not a
    field of every slot; an injected crash is the cause its incarnation's
    cancellation carries (`Incarnation.error`); `Node` has no test-only method.
    """
    assert {"frozen_beat", "injected"}.isdisjoint(attrs.fields_dict(Slot))
    for name in ("inject", "freeze_heartbeat"):
        assert not hasattr(Node, name)


async def test_a_failing_opened_hook_is_raised_bare_before_any_child() -> None:
    ran: list[str] = []

    async def worker() -> None:
        ran.append("worker")  # pragma: no cover - never started

    spec = Supervisor(name="root", children=[Child(name="w", target=worker)])

    def opened(tree: Tree) -> None:
        raise KeyError("opened")

    with pytest.raises(KeyError, match="opened"):
        await run(spec, loop_block_threshold=None, opened=opened)
    with pytest.raises(KeyError, match="opened"):
        async with open_tree(spec, loop_block_threshold=None, opened=opened):
            pass  # pragma: no cover
    assert ran == []


# DESIGN's calls, plus stop, request_stop, wait_stopped, version,
# event_loop_health and child_state (a single child's state, without a snapshot).
TREE_CALLS = {
    "snapshot",
    "start_child",
    "terminate_child",
    "restart_child",
    "delete_child",
    "which_children",
    "count_children",
    "stop",
    "request_stop",
    "wait_stopped",
    "version",
    "event_loop_health",
    "child_state",
}
# Moved off the Tree: they warn for a release (`_deprecate.moved`), then go.
TREE_DEPRECATED = {
    "asgi_app",
    "check_states",
    "not_ready_children",
    "probe_facts",
    "shutting_down",
    "walk_children",
}


def test_the_tree_offers_designs_calls_and_the_deprecated_ones_only() -> None:
    public = {n for n in dir(supervisor.Tree) if not n.startswith("_")}

    assert TREE_CALLS | TREE_DEPRECATED == public


def test_every_deprecated_tree_call_warns_with_its_replacement() -> None:
    for name in sorted(TREE_DEPRECATED):
        member = inspect.getattr_static(supervisor.Tree, name)
        fn = member.fget if isinstance(member, property) else member
        assert fn is not None
        assert hasattr(fn, "__wrapped__"), f"Tree.{name} is not wrapped by moved()"


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 500
    }

    assert {} == long
