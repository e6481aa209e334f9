"""
Specs: what users write to describe a tree. Frozen, validated at construction.

A bad value fails at once with `SpecError`, whose message starts with the tree
path as far as it is known when the check runs (a `Child` knows its own name; a
`Supervisor` adds its own name in front of its children's) and names the field.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias, cast

import attrs

from ._errors import SpecError, TooManyChildren
from ._safe import safe_repr
from ._validators import (
    args_tuple,
    check_args,
    check_bool,
    check_enum,
    check_name,
    frozen_mapping,
    integer,
    is_async_callable,
    number,
    positive,
    spec_path,
    takes_task_status,
)


class Strategy(enum.Enum):
    """What a supervisor restarts when one child ends and must be restarted."""

    ONE_FOR_ONE = "one_for_one"  # that child only
    ONE_FOR_ALL = "one_for_all"  # stop all (reverse order), start all again
    REST_FOR_ONE = "rest_for_one"  # that child and every child started after it


class Restart(enum.Enum):
    """Whether a child that ended is restarted."""

    PERMANENT = "permanent"  # always
    TRANSIENT = "transient"  # only after an abnormal exit (exception, timeout)
    TEMPORARY = "temporary"  # never, not even by a ONE_FOR_ALL/REST_FOR_ONE sweep


class AutoShutdown(enum.Enum):
    """When a supervisor ends itself because significant children ended (OTP 24)."""

    NEVER = "never"
    ANY_SIGNIFICANT = "any_significant"
    ALL_SIGNIFICANT = "all_significant"


class Jitter(enum.Enum):
    """Jitter applied to each backoff delay (the `backoff` package's functions)."""

    NONE = "none"  # exact delays; what tests want
    FULL = "full"  # uniform in [0, delay]: AWS's "full jitter"
    RANDOM = "random"  # delay + uniform [0, 1) s: never shorter than the schedule


JitterFn: TypeAlias = Callable[[float], float]


# ---- validators -------------------------------------------------------------
# attrs' own validators cannot name the tree path, so these raise SpecError with
# the owning spec's name in front. attrs assigns every field before validating,
# and `name` is validated first, so `instance.name` is safe to read here.


def _check_backoff(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, Backoff):
        raise SpecError(
            spec_path(instance),
            attribute.name,
            f"must be a Backoff, got {safe_repr(value)}",
        )


def check_arguments(child: Child, path: str, *, complete: bool = True) -> None:
    """
    Refuse a child whose *args* and *kwargs* do not bind to its target's
    signature (with ``task_status`` when the target takes it): such a child
    could only crash with a TypeError on every start, for ever. With
    *complete* False, missing arguments are allowed (a dynamic supervisor's
    template gets the rest from `Tree.start_child`). Targets without a
    signature (some builtins) are not checked.
    """
    try:
        signature = inspect.signature(child.target)
    except (TypeError, ValueError):
        return
    kwargs = dict(child.kwargs)
    if "task_status" in kwargs:
        raise SpecError(
            path, "kwargs", "must not hold 'task_status'; the supervisor passes it"
        )
    if child.takes_task_status:
        kwargs["task_status"] = None
    bind = signature.bind if complete else signature.bind_partial
    try:
        bind(*child.args, **kwargs)
    except TypeError as exc:
        field = "kwargs" if "keyword" in str(exc) else "args"
        name = getattr(child.target, "__qualname__", type(child.target).__name__)
        bare = signature.replace(
            parameters=[
                p.replace(annotation=inspect.Parameter.empty)
                for p in signature.parameters.values()
            ],
            return_annotation=inspect.Signature.empty,
        )
        raise SpecError(
            path, field, f"do not match the target {name}{bare}: {exc}"
        ) from None


# ---- specs ------------------------------------------------------------------


class LeafSpec:
    """
    Base of child specs of kinds defined outside this module (an OS process:
    `supervisor.Process`), so that supervisors accept them without this module
    importing theirs. Such a spec is a leaf (no children of its own) with the
    fields every child has: *name*, *restart*, *shutdown*, *significant*.
    """

    __slots__ = ()
    name: str
    restart: Restart
    shutdown: float | None
    significant: bool
    depth: int

    def from_template(self, name: str, args: tuple[Any, ...]) -> LeafSpec:
        """A copy named *name* with *args* appended (a dynamic supervisor's child)."""
        raise NotImplementedError


@attrs.frozen(kw_only=True)
class Backoff:
    """
    Delay between restarts of one child: exponential, capped, optionally jittered.

    The *n*-th consecutive restart (n = 0, 1, ...) waits
    ``min(jitter(min(initial * factor**n, max)), max)`` seconds. Once the child has
    run for *reset_after* seconds without ending, the next crash starts from
    *initial* again.

    Defaults (0.5 s doubling to 30 s, random jitter of up to 1 s, reset after
    30 s) restart a child that never comes up at most three times in any five
    seconds, so with the default intensity (3 in 5 s) one slow dependency is
    ridden out rather than escalated, while correlated crashes of several
    siblings still escalate.

    ``Backoff(initial=0)`` restarts at once, as OTP does (jitter only applies
    to delays above zero).
    """

    initial: float = attrs.field(
        default=0.5, validator=number(minimum=0, inclusive=True)
    )
    factor: float = attrs.field(
        default=2.0, validator=number(minimum=1, inclusive=True)
    )
    max: float = attrs.field(default=30.0, validator=number(minimum=0, inclusive=True))
    jitter: Jitter | JitterFn = Jitter.RANDOM
    reset_after: float = attrs.field(default=30.0, validator=positive())

    def __attrs_post_init__(self) -> None:
        if self.max < self.initial:
            raise SpecError(
                "backoff",
                "max",
                f"must be >= initial ({self.initial!r}), got {self.max!r}",
            )
        if not isinstance(self.jitter, Jitter) and not callable(self.jitter):
            raise SpecError(
                "backoff",
                "jitter",
                f"must be a Jitter or a callable float -> float, got {safe_repr(self.jitter)}",
            )


def _check_target(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not is_async_callable(value):
        raise SpecError(
            spec_path(instance),
            attribute.name,
            f"must be an async callable (an 'async def' function), got {safe_repr(value)}",
        )


def _check_restart_significance(instance: Any) -> None:
    if instance.significant and instance.restart is Restart.PERMANENT:
        raise SpecError(
            spec_path(instance),
            "significant",
            "cannot be True for a PERMANENT child (it never ends by itself for good); "
            "use restart=Restart.TRANSIENT or Restart.TEMPORARY",
        )


@attrs.frozen(kw_only=True)
class Child:
    """
    A worker: an async callable run as ``await target(*args, **kwargs)``.

    The child contract:

    * return to finish (a PERMANENT child is restarted even so), raise to crash;
    * reach checkpoints, so that a stop (a cancellation) can land;
    * spawn no task that outlives the call;
    * if *target* takes ``task_status``, call ``task_status.started()`` once
      ready (as with `trio.Nursery.start`) within *start_timeout* seconds; later
      siblings start only after that;
    * with *graceful_stop*, watch `supervisor.stop_requested()` and return within
      *shutdown* seconds of it; otherwise a stop cancels the child at once and
      *shutdown* bounds how long its ``finally`` blocks may take.
    """

    name: str = attrs.field(validator=check_name)
    target: Callable[..., Any] = attrs.field(validator=_check_target)
    args: tuple[Any, ...] = attrs.field(
        default=(), converter=args_tuple, validator=check_args
    )
    kwargs: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_mapping)
    restart: Restart = attrs.field(
        default=Restart.PERMANENT, validator=check_enum(Restart)
    )
    shutdown: float = attrs.field(default=5.0, validator=positive())
    start_timeout: float = attrs.field(default=30.0, validator=positive())
    heartbeat_timeout: float | None = attrs.field(
        default=None, validator=positive(optional=True)
    )
    significant: bool = attrs.field(default=False, validator=check_bool)
    graceful_stop: bool = attrs.field(default=False, validator=check_bool)
    #: Run on one instance of the fleet only (needs etcd; see docs/fleet.md).
    singleton: bool = attrs.field(default=False, validator=check_bool)
    takes_task_status: bool = attrs.field(init=False, eq=False, repr=False)
    #: Levels of the subtree this spec describes (a worker is one).
    depth: int = attrs.field(init=False, default=1, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_restart_significance(self)
        object.__setattr__(self, "takes_task_status", takes_task_status(self.target))
        # Complete once the child is placed in a supervisor (see check_arguments).
        check_arguments(self, self.name, complete=False)


def _children_tuple(value: object) -> tuple[NodeSpec, ...]:
    # Element types are checked in Supervisor.__attrs_post_init__, with the path.
    items = tuple(value) if isinstance(value, list | tuple) else (value,)
    return cast("tuple[NodeSpec, ...]", items)


@attrs.frozen(kw_only=True)
class Supervisor:
    """
    A supervisor node: starts *children* in order and keeps them running.

    More than *intensity* restarts within *period* seconds (counted over all its
    children, as OTP does) makes it stop its children in reverse order and fail
    with `TooManyRestarts`; its parent treats that as a crash of this node.
    The defaults (3 in 5 s) are Elixir's: one flaky child is absorbed by its
    backoff, but several children failing together escalate quickly.
    (OTP's 1 in 5 s assumes restarts are instant; ours back off.)

    *restart*, *shutdown* and *significant* describe this node as a child of
    its own parent. *shutdown* ``None`` waits as long as the children need
    (each child has its own bound), as OTP's ``infinity`` for supervisors.
    """

    name: str = attrs.field(validator=check_name)
    children: tuple[NodeSpec, ...] = attrs.field(default=(), converter=_children_tuple)
    strategy: Strategy = attrs.field(
        default=Strategy.ONE_FOR_ONE, validator=check_enum(Strategy)
    )
    intensity: int = attrs.field(default=3, validator=integer(minimum=0))
    period: float = attrs.field(default=5.0, validator=positive())
    backoff: Backoff = attrs.field(factory=Backoff, validator=_check_backoff)
    auto_shutdown: AutoShutdown = attrs.field(
        default=AutoShutdown.NEVER, validator=check_enum(AutoShutdown)
    )
    restart: Restart = attrs.field(
        default=Restart.PERMANENT, validator=check_enum(Restart)
    )
    shutdown: float | None = attrs.field(
        default=None, validator=positive(optional=True)
    )
    significant: bool = attrs.field(default=False, validator=check_bool)
    #: Run on one instance of the fleet only (needs etcd; see docs/fleet.md).
    singleton: bool = attrs.field(default=False, validator=check_bool)
    depth: int = attrs.field(init=False, default=1, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_restart_significance(self)
        seen: set[str] = set()
        for child in self.children:
            if not isinstance(child, Child | Supervisor | DynamicSupervisor | LeafSpec):
                raise SpecError(
                    self.name,
                    "children",
                    f"must hold Child, Process, Supervisor or DynamicSupervisor specs, got {safe_repr(child)}",
                )
            if child.name in seen:
                raise SpecError(
                    f"{self.name}/{child.name}",
                    "name",
                    "is used by two siblings; names must be unique",
                )
            seen.add(child.name)
            if isinstance(child, Child):
                check_arguments(child, f"{self.name}/{child.name}")
            if child.significant and self.auto_shutdown is AutoShutdown.NEVER:
                raise SpecError(
                    f"{self.name}/{child.name}",
                    "significant",
                    "needs its supervisor's auto_shutdown to be ANY_SIGNIFICANT or "
                    "ALL_SIGNIFICANT (with NEVER it would mean nothing)",
                )
        depth = 1 + max((child.depth for child in self.children), default=0)
        _check_depth(self.name, depth)
        object.__setattr__(self, "depth", depth)


@attrs.frozen(kw_only=True)
class DynamicSupervisor:
    """
    A supervisor whose children are added at run time from one *template*.

    `Tree.start_child` on it starts a copy of *template*, with extra positional
    *args* appended to the template's (like OTP's ``simple_one_for_one``) and a
    name of the caller's choosing or ``<template.name>-<n>``. Each child is
    restarted on its own (one-for-one). At most *max_children* run at once
    (``None``: no cap). Ended children that will not be restarted are removed.
    """

    name: str = attrs.field(validator=check_name)
    template: Child | Supervisor | LeafSpec = attrs.field()
    max_children: int | None = attrs.field(
        default=None, validator=integer(minimum=1, optional=True)
    )
    intensity: int = attrs.field(default=3, validator=integer(minimum=0))
    period: float = attrs.field(default=5.0, validator=positive())
    backoff: Backoff = attrs.field(factory=Backoff, validator=_check_backoff)
    restart: Restart = attrs.field(
        default=Restart.PERMANENT, validator=check_enum(Restart)
    )
    shutdown: float | None = attrs.field(
        default=None, validator=positive(optional=True)
    )
    significant: bool = attrs.field(default=False, validator=check_bool)
    depth: int = attrs.field(init=False, default=1, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.template, Child | Supervisor | LeafSpec):
            raise SpecError(
                self.name,
                "template",
                f"must be a Child, Process or Supervisor spec, got {safe_repr(self.template)}",
            )
        if self.template.significant:
            raise SpecError(
                f"{self.name}/{self.template.name}",
                "significant",
                "is not supported in a dynamic supervisor's template",
            )
        _check_restart_significance(self)
        _check_depth(self.name, 1 + self.template.depth)
        object.__setattr__(self, "depth", 1 + self.template.depth)


MAX_DEPTH = 100
"""
The deepest tree supported, in levels (the root is one, its children two).
Real trees are a handful of levels deep; the bound keeps every walk over a
tree (snapshots, /status, /metrics, the probes) far from Python's recursion
limit.
"""


def child_to_add(
    owner: SupervisorSpec,
    path: str,
    spec: NodeSpec | None,
    args: tuple[Any, ...],
    name: str | None,
    *,
    count: int,
    fresh_name: Callable[[str], str],
) -> NodeSpec:
    """
    The checked spec of a child added at run time (`Tree.start_child`) to the
    supervisor *owner* at *path*, which has *count* children: a copy of a
    dynamic supervisor's template (named *name*, or by *fresh_name*, with
    *args* appended), or *spec* for a static one.
    """
    if isinstance(owner, DynamicSupervisor):
        return _from_template(
            owner, path, spec, args, name, count=count, fresh_name=fresh_name
        )
    return _checked_static(owner, path, spec, args, name)


def _from_template(
    owner: DynamicSupervisor,
    path: str,
    spec: NodeSpec | None,
    args: tuple[Any, ...],
    name: str | None,
    *,
    count: int,
    fresh_name: Callable[[str], str],
) -> NodeSpec:
    if spec is not None:
        raise SpecError(
            path,
            "spec",
            "cannot be given to a dynamic supervisor; pass args (and a name)",
        )
    cap = owner.max_children
    if cap is not None and count >= cap:
        raise TooManyChildren(path, cap)
    template = owner.template
    if name is None:
        name = fresh_name(template.name)
    if isinstance(template, Child):
        try:
            child = attrs.evolve(template, name=name, args=(*template.args, *args))
        except SpecError as exc:  # the spec's own check names the child only
            raise SpecError(f"{path}/{name}", exc.field, exc.problem) from None
        check_arguments(child, f"{path}/{name}")
        return child
    if isinstance(template, LeafSpec):
        try:
            return template.from_template(name, args)
        except SpecError as exc:
            raise SpecError(f"{path}/{name}", exc.field, exc.problem) from None
    if args:
        raise SpecError(path, "args", "cannot be given: the template is a Supervisor")
    return attrs.evolve(template, name=name)


def _checked_static(
    owner: Supervisor,
    path: str,
    spec: NodeSpec | None,
    args: tuple[Any, ...],
    name: str | None,
) -> NodeSpec:
    if args or name is not None:
        raise SpecError(
            path,
            "args",
            "only apply to a dynamic supervisor; put them in the spec",
        )
    if not isinstance(spec, Child | Supervisor | DynamicSupervisor | LeafSpec):
        raise SpecError(
            path,
            "spec",
            f"must be a Child, Process, Supervisor or DynamicSupervisor, got {safe_repr(spec)}",
        )
    if isinstance(spec, Child):
        check_arguments(spec, f"{path}/{spec.name}")
    depth = path.count("/") + 1 + spec.depth
    if depth > MAX_DEPTH:
        raise SpecError(
            f"{path}/{spec.name}",
            "spec",
            f"would make the tree {depth} levels deep; at most {MAX_DEPTH} are supported",
        )
    if spec.significant and owner.auto_shutdown is AutoShutdown.NEVER:
        raise SpecError(
            f"{path}/{spec.name}",
            "significant",
            "needs auto_shutdown other than NEVER",
        )
    return spec


def _check_depth(path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise SpecError(
            path,
            "children",
            f"nest {depth} levels deep; a tree may be at most {MAX_DEPTH} levels deep",
        )


NodeSpec: TypeAlias = Child | Supervisor | DynamicSupervisor | LeafSpec
SupervisorSpec: TypeAlias = Supervisor | DynamicSupervisor
