"""
The layers, checked over the whole import closure (not only direct imports).

* spec and policy (pure decisions) reach no trio, thread, socket or HTTP library
  through any chain of imports;
* the core (spec, policy, runtime: what `Tree` needs to run) reaches no surface
  (HTTP, metrics, CLI, logging setup) and none of the surfaces' libraries;
* no import cycle inside the package, counting imports made only for type
  checking (a module's own parent packages are not counted: they are being
  imported already when it runs).

Read statically with `ast`, so the check sees every import a module could make,
also the lazy ones inside functions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import supervisor

PACKAGE = Path(supervisor.__file__).parent

# Libraries that do I/O, keep time or run threads: never reached from policy.
IO_LIBRARIES = {
    "trio",
    "threading",
    "socket",
    "asyncio",
    "selectors",
    "subprocess",
    "time",
    "httpx",
    "hypercorn",
    "prometheus_client",
    "rich",
    "structlog",
    "psutil",
}
# What only the surfaces may use.
SURFACE_LIBRARIES = {"hypercorn", "prometheus_client", "httpx", "rich"}
# The surfaces (with everything under them): they read the tree, never the reverse.
SURFACE_MODULES = {
    "supervisor._entry",  # the composition, above the core
    "supervisor.http",
    "supervisor.cli",
    "supervisor.integrations",
    "supervisor.metrics",
    "supervisor.logging",
    "supervisor.checks",  # the built-in checks (httpx)
    "supervisor.testing",
}
# Pure layers besides the policy package: specs, errors, values.
PURE_MODULES = {
    "supervisor._spec",
    "supervisor._validators",
    "supervisor._options",
    "supervisor._bind",
    "supervisor._checks",
    "supervisor._errors",
    "supervisor._snapshot",
    "supervisor._events",
    "supervisor._safe",
}


def _core_roots(graph: dict[str, set[str]]) -> set[str]:
    """The runtime: every module of the runtime package."""
    return {m for m in graph if m.startswith("supervisor._runtime")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _typing_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    found: set[int] = set()
    for node in ast.walk(tree):
        test = node.test if isinstance(node, ast.If) else None
        name = getattr(test, "id", None) or getattr(test, "attr", None)
        if name == "TYPE_CHECKING":
            for inner in node.body:
                found.update(id(n) for n in ast.walk(inner))
    return found


def _imports(name: str, path: Path, known: set[str], *, typing: bool) -> Iterator[str]:
    """
    Everything *name* imports (package modules by full name, others by top
    name); with *typing*, also what it imports for type checking only.
    """
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    tree = ast.parse(path.read_text())
    skip = set() if typing else _typing_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "supervisor":  # the whole package, re-exports and all
                    for module in set(_reexports().values()):
                        yield from _resolve(module, known)
                yield from _resolve(alias.name, known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                target = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                target = node.module or ""
            yield from _resolve(target, known)
            for alias in node.names:  # `from . import _log` imports a module
                sub = f"{target}.{alias.name}"
                if sub in known:
                    yield sub
                elif target == "supervisor":  # a name the package re-exports
                    yield from _resolve(_reexports().get(alias.name, ""), known)


def _reexports() -> dict[str, str]:
    """Name -> the module `supervisor/__init__.py` imports it from."""
    found: dict[str, str] = {}
    for node in ast.parse((PACKAGE / "__init__.py").read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            module = f"supervisor.{node.module}" if node.module else "supervisor"
            for alias in node.names:
                name = alias.asname or alias.name
                found[name] = (
                    f"{module}.{alias.name}" if node.module is None else module
                )
    return found


def _resolve(target: str, known: set[str]) -> Iterator[str]:
    # The package's own __init__ (re-exports of everything) runs before any
    # submodule; the layers are about what each module needs, so it is left out.
    if target == "supervisor":
        return
    if target in known:
        yield target
        if "." in target:  # importing a.b runs a/__init__.py first
            yield from _resolve(target.rsplit(".", 1)[0], known)
    elif target.startswith("supervisor."):
        yield from _resolve(target.rsplit(".", 1)[0], known)
    elif target != "supervisor":
        yield target.split(".", maxsplit=1)[0]


def _graph(*, typing: bool = False) -> dict[str, set[str]]:
    """Module -> what it imports at run time (and for type checking, with *typing*)."""
    modules = _modules()
    known = set(modules)
    return {
        name: {
            t
            for t in _imports(name, path, known, typing=typing)
            if t != name and not name.startswith(f"{t}.")
        }
        for name, path in modules.items()
    }


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _policy_modules(graph: dict[str, set[str]]) -> set[str]:
    return {m for m in graph if m.startswith("supervisor._policy")} | (
        PURE_MODULES & set(graph)
    )


def test_the_import_graph_is_read() -> None:
    graph = _graph()
    assert "supervisor.http._app" == _reexports()["HealthApp"]

    assert "supervisor._runtime.node" in _closure(graph, "supervisor._runtime.tree")
    assert "trio" in graph["supervisor._runtime.node"]
    assert _policy_modules(graph)
    assert PURE_MODULES <= set(graph)  # no stale name
    assert all(any(m.startswith(s) for m in graph) for s in SURFACE_MODULES)


def test_spec_and_policy_reach_no_io_library_through_any_chain() -> None:
    graph = _graph()
    reached = {
        (module, library)
        for module in _policy_modules(graph)
        for library in _closure(graph, module) & IO_LIBRARIES
    }

    assert set() == reached


def test_the_core_reaches_no_surface() -> None:
    graph = _graph()
    reached = {
        (root, target)
        for root in _core_roots(graph)
        for target in _closure(graph, root)
        if target in SURFACE_LIBRARIES
        or any(target == s or target.startswith(s + ".") for s in SURFACE_MODULES)
    }

    assert set() == reached


def test_no_import_cycle_not_even_for_type_checking() -> None:
    assert set() == _cycles(_graph())
    assert set() == _cycles(_graph(typing=True))


def test_the_policy_tests_run_without_trio() -> None:
    """The tests of pure code import no trio either: they need no event loop."""
    found = set()
    for path in sorted((Path(__file__).parent / "policy").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found.update(
                (path.name, n)
                for n in names
                if n.split(".")[0] in {"trio", "pytest_trio", "threading"}
            )
    assert set() == found
