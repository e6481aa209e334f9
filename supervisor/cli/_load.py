"""
Loading what the command line names: ``module:attr`` or ``path/file.py:attr``
for the tree's spec and for ``--checks``, with the user's own traceback (the
import machinery's frames and ours cut) when it fails.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import traceback
import types
from pathlib import Path

from .._checks import Check
from .._spec import DynamicSupervisor, Supervisor, SupervisorSpec
from .._validators import is_async_callable


class SpecLoadError(Exception):
    """
    The spec named on the command line cannot be loaded.

    *details* is the user's own traceback (their frames only), when their
    code raised: an import, a syntax error, a factory or a `SpecError`.
    """

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


def load_spec(ref: str) -> SupervisorSpec:
    """
    Load ``module.path:NAME`` or ``path/to/file.py:NAME``.

    NAME is a `Supervisor` / `DynamicSupervisor`, or a plain function
    returning one. Modules are imported from `sys.path`; the command puts the
    current directory first, as uvicorn and gunicorn do.
    """
    attr, obj = _attribute(ref)
    if is_async_callable(obj):
        # Calling it would only make a coroutine (and a "never awaited" warning).
        raise SpecLoadError(
            f"{ref!r}: {attr} is an async function; name a spec, or a plain "
            "function that returns one"
        )
    if callable(obj) and not isinstance(obj, Supervisor | DynamicSupervisor):
        try:
            obj = obj()
        except Exception as exc:
            raise _user_error(ref, f"calling {attr}()", exc) from None
    if inspect.iscoroutine(obj):
        obj.close()
        raise SpecLoadError(
            f"{ref!r}: {attr}() returned a coroutine; name a spec, or a plain "
            "function that returns one"
        )
    if not isinstance(obj, Supervisor | DynamicSupervisor):
        kind = type(obj).__name__
        article = "an" if kind[:1].lower() in "aeiou" else "a"
        raise SpecLoadError(f"{ref!r}: is {article} {kind}, not a Supervisor spec")
    return obj


def load_checks(ref: str) -> list[Check]:
    """
    Load ``module.path:NAME`` or ``path/to/file.py:NAME``: a list of `Check`
    specs (or a plain function returning one), for ``run --checks``.
    """
    attr, obj = _attribute(ref)
    if callable(obj) and not is_async_callable(obj):
        try:
            obj = obj()
        except Exception as exc:
            raise _user_error(ref, f"calling {attr}()", exc) from None
    checks = [obj] if isinstance(obj, Check) else obj
    if not isinstance(checks, list | tuple) or not all(
        isinstance(c, Check) for c in checks
    ):
        raise SpecLoadError(
            f"{ref!r}: is a {type(obj).__name__}, not a list of Check specs"
        )
    return list(checks)


def _attribute(ref: str) -> tuple[str, object]:
    """``NAME`` and what ``MODULE:NAME`` or ``FILE.py:NAME`` names (imported)."""
    where, sep, attr = ref.rpartition(":")
    if not sep or not where or not attr:
        raise SpecLoadError(f"{ref!r}: expected MODULE:NAME or FILE.py:NAME")
    module = _load_module(ref, where)
    try:
        return attr, getattr(module, attr)
    except AttributeError:
        raise SpecLoadError(f"{ref!r}: {where} has no {attr!r}") from None


def _load_module(ref: str, where: str) -> types.ModuleType:
    if not where.endswith(".py"):
        try:
            return importlib.import_module(where)
        except ModuleNotFoundError as exc:
            if exc.name is None or not _is_prefix(exc.name, where):
                raise _user_error(ref, f"importing {where}", exc) from None
            raise SpecLoadError(
                f"{ref!r}: cannot import {where}: {exc} (sys.path starts with "
                f"{sys.path[0] or '.'!r}; run from the project directory or set PYTHONPATH)"
            ) from None
        except Exception as exc:
            raise _user_error(ref, f"importing {where}", exc) from None
    path = Path(where)
    if not path.is_file():
        raise SpecLoadError(f"{ref!r}: no file {where}")
    module_spec = importlib.util.spec_from_file_location(path.stem, path)
    if module_spec is None or module_spec.loader is None:
        raise SpecLoadError(f"{ref!r}: cannot load {where} as a module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[path.stem] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[path.stem]
        raise _user_error(ref, f"loading {where}", exc) from None
    return module


def _is_prefix(name: str, dotted: str) -> bool:
    """Is module *name* *dotted* itself or one of its parent packages?"""
    return dotted == name or dotted.startswith(f"{name}.")


# The package root: frames of any of its modules, subpackages included.
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _ours(filename: str) -> bool:
    """A frame of this package, of the import machinery or of attrs' generated code."""
    return (
        filename.startswith(("<frozen importlib", "<attrs generated"))
        or filename == importlib.__file__
        or Path(filename).resolve().is_relative_to(_PACKAGE_DIR)
    )


def _user_error(ref: str, doing: str, exc: BaseException) -> SpecLoadError:
    """A SpecLoadError carrying the traceback of the user's code, without our frames."""
    shown = traceback.TracebackException.from_exception(exc)
    link: traceback.TracebackException | None = shown
    while link is not None:
        link.stack = traceback.StackSummary.from_list(
            [frame for frame in link.stack if not _ours(frame.filename)]
        )
        link = link.__cause__ or (
            None if link.__suppress_context__ else link.__context__
        )
    return SpecLoadError(
        f"{ref!r}: {doing} raised {type(exc).__name__}", "".join(shown.format())
    )
