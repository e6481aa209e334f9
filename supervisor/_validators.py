"""
The validators every spec shares (`Child`, `Supervisor`, `Check`, the
options): each raises `SpecError` naming the tree path as far as it is known
and the field, with a message a user can act on.
"""

from __future__ import annotations

import enum
import functools
import inspect
import math
import types
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ._errors import SpecError
from ._safe import safe_repr


def spec_path(instance: object) -> str:
    return str(getattr(instance, "name", type(instance).__name__.lower()))


def number(
    *, minimum: float, inclusive: bool, optional: bool = False
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(
                spec_path(instance),
                attribute.name,
                f"must be a number, got {safe_repr(value)}",
            )
        try:
            infinite = math.isinf(value)
        except OverflowError:  # an int beyond any float (10**400)
            infinite = True
        if infinite:
            bound = " (None means no bound)" if optional else ""
            raise SpecError(
                spec_path(instance),
                attribute.name,
                f"must be a finite number{bound}, got {safe_repr(value, 40)}",
            )
        ok = value >= minimum if inclusive else value > minimum
        if not ok or math.isnan(value):
            op = ">=" if inclusive else ">"
            raise SpecError(
                spec_path(instance),
                attribute.name,
                f"must be {op} {minimum:g}, got {safe_repr(value)}",
            )

    return check


def positive(
    *, optional: bool = False
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    return number(minimum=0, inclusive=False, optional=optional)


def check_name(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise SpecError(
            safe_repr(value),
            attribute.name,
            f"must be a non-empty string, got {safe_repr(value)}",
        )
    problem = hostile_name(value)
    if problem:
        raise SpecError(repr(value), attribute.name, problem)
    if "/" in value:
        raise SpecError(
            value, attribute.name, "must not contain '/' (it separates tree paths)"
        )


MAX_NAME_LENGTH = 255  # a file name's limit on common file systems


# Unicode categories refused in names: control and format characters (CR, LF,
# NUL, bidi overrides, zero-width joiners), surrogates, private-use and
# unassigned code points, and line/paragraph separators. Names end up in
# log lines, metric labels, URLs and file paths; none of these belong there.
_HOSTILE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def hostile_name(value: str) -> str | None:
    """Why *value* cannot be a node or check name, or None."""
    if len(value) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters, got {len(value)}"
    if value in (".", ".."):
        return f"must not be {value!r} (it means a directory in paths and URLs)"
    if "\\" in value:
        return "must not contain '\\' (a path separator on Windows)"
    if value != value.strip():
        return "must not start or end with whitespace"
    for char in value:
        category = unicodedata.category(char)
        if category in _HOSTILE_CATEGORIES or (category == "Zs" and char != " "):
            return (
                f"must not contain control, format or separator characters "
                f"(found U+{ord(char):04X})"
            )
    return None


def check_enum(
    kind: type[enum.Enum],
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, kind):
            choices = ", ".join(f"{kind.__name__}.{m.name}" for m in kind)
            raise SpecError(
                spec_path(instance),
                attribute.name,
                f"must be one of {choices}, got {safe_repr(value)}",
            )

    return check


def integer(
    *, minimum: int, optional: bool = False
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    in_range = number(minimum=minimum, inclusive=True, optional=optional)

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(
                spec_path(instance),
                attribute.name,
                f"must be an int, got {safe_repr(value)}",
            )
        in_range(instance, attribute, value)

    return check


def check_bool(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise SpecError(
            spec_path(instance),
            attribute.name,
            f"must be True or False, got {safe_repr(value)}",
        )


def is_async_callable(fn: object) -> bool:
    """True for ``async def`` functions, partials of them and objects with one as ``__call__``."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if isinstance(fn, type):  # calling a class builds an instance, not a coroutine
        return False
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - we want the async-ness of __call__
    return (
        call is not None
        and not inspect.isroutine(fn)
        and inspect.iscoroutinefunction(call)
    )


def takes_task_status(fn: Callable[..., object]) -> bool:
    try:
        return "task_status" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def frozen_mapping(value: Mapping[str, object] | None) -> Mapping[str, object]:
    return types.MappingProxyType(dict(value or {}))


def args_tuple(value: Any) -> Any:
    # A str is iterable: tuple("orders") would pass six one-letter arguments.
    # Anything but a list or tuple is left as given, for check_args to refuse.
    return tuple(value) if isinstance(value, list | tuple) else value


def check_args(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple):
        # Named by its type only: arguments are where secrets go (an API key
        # given as args=key instead of args=(key,)), and this message reaches
        # the CLI's stderr and crash logs.
        kind = type(value).__name__
        article = "an" if kind[:1].lower() in "aeiou" else "a"
        raise SpecError(
            spec_path(instance),
            attribute.name,
            f"must be a tuple or list of positional arguments, got {article} {kind}; "
            f"for one argument write args=(value,) with the comma",
        )
