"""
Construction-time validation of specs: bad values fail at once with `SpecError`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from supervisor import (
    AutoShutdown,
    Backoff,
    Child,
    DynamicSupervisor,
    Jitter,
    Restart,
    SpecError,
    Strategy,
    Supervisor,
)

NAN = math.nan


# ---- targets ----------------------------------------------------------------


async def worker(*args: object, **kwargs: object) -> None:
    """A valid target."""


async def ready_worker(x: int = 0, *, task_status: object = None) -> None:
    """A valid target that reports readiness through `task_status`."""


def sync_worker() -> None:
    """Not a valid target: a plain function."""


async def agen_worker() -> Any:
    """Not a valid target: an async generator function."""
    yield


class AsyncCallable:
    """Instances are valid targets: `__call__` is `async def`."""

    async def __call__(self) -> None:
        """Run."""

    async def method(self) -> None:
        """A bound async method is a valid target too."""


class ReadyCallable:
    """An async callable object whose `__call__` takes `task_status`."""

    async def __call__(self, *, task_status: object = None) -> None:
        """Run."""


class SyncCallable:
    """Instances are callable, but not async."""

    def __call__(self) -> None:
        """Run."""


# ---- helpers ----------------------------------------------------------------


def spec_error(make: Callable[[], object]) -> SpecError:
    """
    Call *make*, which must raise `SpecError`, and return the error.
    """
    with pytest.raises(SpecError) as excinfo:
        make()

    return excinfo.value


def check(error: SpecError, path: str, field: str) -> None:
    """
    *error* names *path* and *field*, in its attributes and at its message's start.
    """
    assert (path, field) == (error.path, error.field)
    assert isinstance(error, ValueError)
    assert str(error).startswith(f"{path}: {field} ")


def sup(**kwargs: Any) -> Supervisor:
    """A supervisor named "root" with *kwargs*."""
    return Supervisor(name="root", **kwargs)


def dyn(**kwargs: Any) -> DynamicSupervisor:
    """A dynamic supervisor named "pool" over a plain worker, with *kwargs*."""
    kwargs.setdefault("template", Child(name="conn", target=worker))
    return DynamicSupervisor(name="pool", **kwargs)


def transient(name: str = "db", **kwargs: Any) -> Child:
    """A significant TRANSIENT child."""
    return Child(
        name=name, target=worker, restart=Restart.TRANSIENT, significant=True, **kwargs
    )


BAD_POSITIVE = [0, 0.0, -1, -0.5, NAN, -math.inf, True, False, "5", None]


class TestSpecError:
    """
    Tests for `SpecError` itself.
    """

    def test_message_and_attributes(self):
        """
        The message is "<path>: <field> <problem>" and each part is an attribute.
        """
        error = SpecError("root/db", "shutdown", "must be > 0, got -1")

        assert "root/db: shutdown must be > 0, got -1" == str(error)
        assert ("root/db", "shutdown", "must be > 0, got -1") == (
            error.path,
            error.field,
            error.problem,
        )

    def test_is_a_value_error(self):
        """
        A `SpecError` is also a `ValueError`, for callers that catch those.
        """
        assert issubclass(SpecError, ValueError)


class TestChild:
    """
    Tests for `Child` validation.
    """

    @pytest.mark.parametrize(
        "field", ["shutdown", "start_timeout", "heartbeat_timeout"]
    )
    @pytest.mark.parametrize("value", BAD_POSITIVE[:-1])
    def test_non_positive_timeouts(self, field, value):
        """
        Timeouts must be numbers > 0; bools, NaN and strings are refused.
        """
        error = spec_error(lambda: Child(name="db", target=worker, **{field: value}))

        check(error, "db", field)

    @pytest.mark.parametrize("field", ["shutdown", "start_timeout"])
    def test_required_timeouts_refuse_none(self, field):
        """
        `shutdown` and `start_timeout` have no "unbounded" value.
        """
        error = spec_error(lambda: Child(name="db", target=worker, **{field: None}))

        check(error, "db", field)

    def test_bool_is_not_a_number(self):
        """
        `True` is an `int` to Python, but not a timeout to us.
        """
        error = spec_error(lambda: Child(name="db", target=worker, shutdown=True))

        check(error, "db", "shutdown")
        assert "must be a number, got True" == error.problem

    def test_message_states_the_bound(self):
        """
        The message says what was expected and what was given.
        """
        error = spec_error(lambda: Child(name="db", target=worker, shutdown=-1))

        assert "db: shutdown must be > 0, got -1" == str(error)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("shutdown", 0.001),
            ("start_timeout", 1),
            ("heartbeat_timeout", 0.5),
            ("heartbeat_timeout", None),
        ],
    )
    def test_good_timeouts(self, field, value):
        """
        Positive ints and floats are accepted; `heartbeat_timeout` may be None.
        """
        child = Child(name="db", target=worker, **{field: value})

        assert value == getattr(child, field)

    @pytest.mark.parametrize("value", ["permanent", None, Strategy.ONE_FOR_ONE])
    def test_restart_must_be_a_restart(self, value):
        """
        `restart` takes a `Restart` member, not its value or another enum.
        """
        error = spec_error(lambda: Child(name="db", target=worker, restart=value))

        check(error, "db", "restart")

    def test_significant_permanent_child(self):
        """
        A PERMANENT child never ends for good, so it cannot be significant.
        """
        error = spec_error(lambda: Child(name="db", target=worker, significant=True))

        check(error, "db", "significant")

    @pytest.mark.parametrize("restart", [Restart.TRANSIENT, Restart.TEMPORARY])
    def test_significant_non_permanent_child(self, restart):
        """
        TRANSIENT and TEMPORARY children may be significant.
        """
        child = Child(name="db", target=worker, restart=restart, significant=True)

        assert child.significant


class TestTarget:
    """
    Tests for the async-callable check on `Child.target`.
    """

    @pytest.mark.parametrize(
        "target",
        [
            sync_worker,
            lambda: worker(),  # noqa: PLW0108 - a sync callable returning a coroutine
            functools.partial(sync_worker),
            agen_worker,
            SyncCallable(),
            print,
            None,
            "worker",
            42,
        ],
        ids=[
            "plain-function",
            "lambda-returning-coroutine",
            "partial-of-plain-function",
            "async-generator-function",
            "sync-callable-object",
            "builtin",
            "none",
            "string",
            "int",
        ],
    )
    def test_rejected(self, target):
        """
        Anything that is not an async callable is refused at construction.
        """
        error = spec_error(lambda: Child(name="db", target=target))

        check(error, "db", "target")

    def test_class_with_async_call_is_rejected(self):
        """
        A class whose instances are async callables is itself not one: calling it
        builds an instance, not a coroutine.
        """
        error = spec_error(lambda: Child(name="db", target=AsyncCallable))

        check(error, "db", "target")

    @pytest.mark.parametrize(
        "target",
        [
            worker,
            functools.partial(worker, 1),
            functools.partial(functools.partial(worker, 1), 2),
            AsyncCallable(),
            AsyncCallable().method,
            functools.partial(AsyncCallable()),
        ],
        ids=[
            "async-def",
            "partial",
            "partial-of-partial",
            "object-with-async-call",
            "bound-async-method",
            "partial-of-async-callable-object",
        ],
    )
    def test_accepted(self, target):
        """
        `async def` functions, partials of them and async-callable objects work.
        """
        child = Child(name="db", target=target)

        assert target is child.target


class TestTakesTaskStatus:
    """
    Tests for `Child.takes_task_status` detection.
    """

    @pytest.mark.parametrize(
        ("target", "expected"),
        [
            (worker, False),
            (ready_worker, True),
            (functools.partial(ready_worker, 1), True),
            (AsyncCallable(), False),
            (ReadyCallable(), True),
        ],
        ids=["plain", "task-status", "partial", "object", "object-task-status"],
    )
    def test_detected_from_the_signature(self, target, expected):
        """
        A target takes `task_status` when its signature names that parameter.
        """
        child = Child(name="db", target=target)

        assert expected == child.takes_task_status

    def test_not_an_argument(self):
        """
        `takes_task_status` is derived from the target, never passed in.
        """
        with pytest.raises(TypeError):
            Child(name="db", target=worker, takes_task_status=True)  # type: ignore[call-arg]


class TestNames:
    """
    Tests for the `name` check shared by every spec.
    """

    MAKERS: tuple[Callable[[str], object], ...] = (
        lambda name: Child(name=name, target=worker),
        lambda name: Supervisor(name=name),
        lambda name: DynamicSupervisor(
            name=name, template=Child(name="conn", target=worker)
        ),
    )

    @pytest.mark.parametrize("make", MAKERS, ids=["child", "sup", "dynamic"])
    def test_empty_name(self, make):
        """
        An empty name is refused; the path shows it as a repr.
        """
        error = spec_error(lambda: make(""))

        check(error, "''", "name")

    @pytest.mark.parametrize("make", MAKERS, ids=["child", "sup", "dynamic"])
    def test_name_with_slash(self, make):
        """
        '/' separates tree paths, so no name may contain it.
        """
        error = spec_error(lambda: make("a/b"))

        check(error, "a/b", "name")
        assert "'/'" in error.problem

    @pytest.mark.parametrize("make", MAKERS, ids=["child", "sup", "dynamic"])
    @pytest.mark.parametrize("name", [None, 3, b"db"])
    def test_name_not_a_string(self, make, name):
        """
        A name must be a `str`.
        """
        error = spec_error(lambda: make(name))

        check(error, repr(name), "name")


class TestSupervisor:
    """
    Tests for `Supervisor` validation.
    """

    @pytest.mark.parametrize("value", BAD_POSITIVE[:-1])
    def test_non_positive_period(self, value):
        """
        `period` must be a number > 0.
        """
        error = spec_error(lambda: sup(period=value))

        check(error, "root", "period")

    @pytest.mark.parametrize("value", BAD_POSITIVE[:-1])
    def test_non_positive_shutdown(self, value):
        """
        A supervisor's `shutdown` must be > 0 when given.
        """
        error = spec_error(lambda: sup(shutdown=value))

        check(error, "root", "shutdown")

    @pytest.mark.parametrize(
        "value", [-1, -0.5, NAN, -math.inf, True, False, "3", None]
    )
    def test_bad_intensity_number(self, value):
        """
        `intensity` must be a number >= 0 (and not a bool).
        """
        error = spec_error(lambda: sup(intensity=value))

        check(error, "root", "intensity")

    @pytest.mark.parametrize("value", [2.5, 3.0, math.inf])
    def test_non_int_intensity(self, value):
        """
        `intensity` counts restarts, so it must be an `int`.
        """
        error = spec_error(lambda: sup(intensity=value))

        check(error, "root", "intensity")
        assert f"must be an int, got {value!r}" == error.problem

    def test_intensity_zero(self):
        """
        `intensity=0` is valid: any restart escalates.
        """
        assert 0 == sup(intensity=0).intensity

    def test_duplicate_child_names(self):
        """
        Sibling names are unique; the path names the parent and the duplicate.
        """
        error = spec_error(
            lambda: sup(
                children=[
                    Child(name="db", target=worker),
                    Child(name="cache", target=worker),
                    Supervisor(name="db"),
                ]
            )
        )

        check(error, "root/db", "name")

    def test_same_name_in_different_subtrees(self):
        """
        Only siblings must differ; cousins may share a name.
        """
        root = sup(
            children=[
                Supervisor(name="a", children=[Child(name="db", target=worker)]),
                Supervisor(name="b", children=[Child(name="db", target=worker)]),
            ]
        )

        assert ("a", "b") == tuple(child.name for child in root.children)

    @pytest.mark.parametrize(
        "bad",
        ["db", worker, None, {"name": "db"}, Backoff()],
        ids=["str", "function", "none", "dict", "backoff"],
    )
    def test_non_spec_child(self, bad):
        """
        `children` holds only Child, Supervisor and DynamicSupervisor specs.
        """
        error = spec_error(lambda: sup(children=[Child(name="db", target=worker), bad]))

        check(error, "root", "children")

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("strategy", "one_for_one"),
            ("strategy", Restart.PERMANENT),
            ("auto_shutdown", "never"),
            ("auto_shutdown", None),
            ("restart", Strategy.ONE_FOR_ONE),
            ("restart", "permanent"),
        ],
    )
    def test_wrong_enum_types(self, field, value):
        """
        Enum fields take members of their own enum, not values or other enums.
        """
        error = spec_error(lambda: sup(**{field: value}))

        check(error, "root", field)
        assert error.problem.startswith("must be one of ")

    @pytest.mark.parametrize("value", [None, {"initial": 1}, Jitter.NONE])
    def test_backoff_must_be_a_backoff(self, value):
        """
        `backoff` takes a `Backoff` spec.
        """
        error = spec_error(lambda: sup(backoff=value))

        check(error, "root", "backoff")

    @pytest.mark.parametrize("auto_shutdown", list(AutoShutdown))
    def test_significant_permanent_supervisor(self, auto_shutdown):
        """
        A PERMANENT supervisor cannot be significant to its own parent, whatever
        its own auto-shutdown.
        """
        error = spec_error(lambda: sup(significant=True, auto_shutdown=auto_shutdown))

        check(error, "root", "significant")

    def test_significant_child_under_never(self):
        """
        A significant child means nothing under `auto_shutdown=NEVER`; OTP refuses
        it too.
        """
        error = spec_error(lambda: sup(children=[transient("db")]))

        check(error, "root/db", "significant")

    def test_significant_supervisor_child_under_never(self):
        """
        The rule holds for supervisor children as for workers.
        """
        child = Supervisor(name="sub", restart=Restart.TRANSIENT, significant=True)

        error = spec_error(lambda: sup(children=[child]))

        check(error, "root/sub", "significant")

    @pytest.mark.parametrize(
        "auto_shutdown", [AutoShutdown.ANY_SIGNIFICANT, AutoShutdown.ALL_SIGNIFICANT]
    )
    def test_significant_child_with_auto_shutdown(self, auto_shutdown):
        """
        Significant children are accepted when auto-shutdown can use them.
        """
        sub = Supervisor(name="sub", restart=Restart.TEMPORARY, significant=True)
        root = sup(auto_shutdown=auto_shutdown, children=[transient("db"), sub])

        assert [True, True] == [child.significant for child in root.children]

    def test_children_become_a_tuple(self):
        """
        A list of children, or a single child, is stored as a tuple.
        """
        db = Child(name="db", target=worker)

        assert ((db,), (db,)) == (
            sup(children=[db]).children,
            sup(children=db).children,
        )


class TestBackoff:
    """
    Tests for `Backoff` validation.
    """

    @pytest.mark.parametrize("value", [-1, -0.001, NAN, True, "1", None])
    def test_bad_initial(self, value):
        """
        `initial` must be a number >= 0.
        """
        error = spec_error(lambda: Backoff(initial=value))

        check(error, "backoff", "initial")

    @pytest.mark.parametrize("value", [0.5, 0, -2, NAN, True, None])
    def test_bad_factor(self, value):
        """
        `factor` must be >= 1: delays never shrink.
        """
        error = spec_error(lambda: Backoff(factor=value))

        check(error, "backoff", "factor")

    @pytest.mark.parametrize("value", [-1, NAN, False, None])
    def test_bad_max(self, value):
        """
        `max` must be a number >= 0.
        """
        error = spec_error(lambda: Backoff(max=value))

        check(error, "backoff", "max")

    @pytest.mark.parametrize(("initial", "maximum"), [(5, 1), (0.5, 0.499), (1, 0)])
    def test_max_below_initial(self, initial, maximum):
        """
        `max` below `initial` is a cross-field error named on `max`.
        """
        error = spec_error(lambda: Backoff(initial=initial, max=maximum))

        check(error, "backoff", "max")
        assert f"must be >= initial ({initial!r}), got {maximum!r}" == error.problem

    @pytest.mark.parametrize("value", [0, -1, NAN, True, None])
    def test_bad_reset_after(self, value):
        """
        `reset_after` must be > 0.
        """
        error = spec_error(lambda: Backoff(reset_after=value))

        check(error, "backoff", "reset_after")

    @pytest.mark.parametrize("value", ["full", None, 0.5, Restart.PERMANENT])
    def test_bad_jitter(self, value):
        """
        `jitter` is a `Jitter` member or a callable.
        """
        error = spec_error(lambda: Backoff(jitter=value))

        check(error, "backoff", "jitter")

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"initial": 0, "max": 0},
            {"initial": 1, "factor": 1, "max": 1},
            {"jitter": Jitter.NONE},
            {"jitter": Jitter.FULL},
            {"jitter": lambda delay: delay / 2},
        ],
        ids=["zero", "constant", "no-jitter", "full-jitter", "callable-jitter"],
    )
    def test_good(self, kwargs):
        """
        Edge values that make sense are accepted.
        """
        backoff = Backoff(**kwargs)

        assert kwargs == {name: getattr(backoff, name) for name in kwargs}


class TestDynamicSupervisor:
    """
    Tests for `DynamicSupervisor` validation.
    """

    @pytest.mark.parametrize(
        "template",
        [
            worker,
            "conn",
            None,
            DynamicSupervisor(name="inner", template=Child(name="conn", target=worker)),
        ],
        ids=["function", "str", "none", "dynamic"],
    )
    def test_bad_template(self, template):
        """
        The template is a `Child` or `Supervisor` spec.
        """
        error = spec_error(lambda: dyn(template=template))

        check(error, "pool", "template")

    def test_significant_template(self):
        """
        Templates cannot be significant; the path names the template.
        """
        error = spec_error(lambda: dyn(template=transient("conn")))

        check(error, "pool/conn", "significant")

    @pytest.mark.parametrize("value", [0, -1, NAN, True, "2"])
    def test_bad_max_children(self, value):
        """
        `max_children` must be at least 1 when given.
        """
        error = spec_error(lambda: dyn(max_children=value))

        check(error, "pool", "max_children")

    def test_non_int_max_children(self):
        """
        `max_children` counts children, so it must be an `int`, like `intensity`.
        """
        error = spec_error(lambda: dyn(max_children=2.5))

        check(error, "pool", "max_children")

    @pytest.mark.parametrize("value", [None, 1, 100])
    def test_good_max_children(self, value):
        """
        `None` means no cap; any count >= 1 is a cap.
        """
        assert value == dyn(max_children=value).max_children

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("intensity", -1),
            ("intensity", 1.5),
            ("period", 0),
            ("shutdown", -1),
            ("restart", "permanent"),
        ],
    )
    def test_bad_fields(self, field, value):
        """
        The fields shared with `Supervisor` are checked the same way.
        """
        error = spec_error(lambda: dyn(**{field: value}))

        check(error, "pool", field)

    def test_backoff_must_be_a_backoff(self):
        """
        `backoff` takes a `Backoff` spec, as on `Supervisor`.
        """
        error = spec_error(lambda: dyn(backoff={"initial": 1}))

        check(error, "pool", "backoff")

    def test_significant_permanent(self):
        """
        A PERMANENT dynamic supervisor cannot be significant.
        """
        error = spec_error(lambda: dyn(significant=True))

        check(error, "pool", "significant")

    def test_significant_under_never(self):
        """
        A significant dynamic supervisor needs a parent with auto-shutdown.
        """
        pool = dyn(restart=Restart.TRANSIENT, significant=True)

        error = spec_error(lambda: sup(children=[pool]))

        check(error, "root/pool", "significant")


class TestDefaults:
    """
    Tests for the defaults the docstrings document.
    """

    def test_child(self):
        """
        A child is PERMANENT, with 5 s to stop and 30 s to start, and no heartbeat.
        """
        child = Child(name="db", target=worker)

        assert (Restart.PERMANENT, 5.0, 30.0, None, False, False, (), {}) == (
            child.restart,
            child.shutdown,
            child.start_timeout,
            child.heartbeat_timeout,
            child.significant,
            child.graceful_stop,
            child.args,
            dict(child.kwargs),
        )

    def test_supervisor(self):
        """
        Elixir's 3 restarts in 5 s, one-for-one, no auto-shutdown, unbounded stop.
        """
        root = Supervisor(name="root")

        assert (
            (),
            Strategy.ONE_FOR_ONE,
            3,
            5.0,
            Backoff(),
            AutoShutdown.NEVER,
            Restart.PERMANENT,
            None,
            False,
        ) == (
            root.children,
            root.strategy,
            root.intensity,
            root.period,
            root.backoff,
            root.auto_shutdown,
            root.restart,
            root.shutdown,
            root.significant,
        )

    def test_backoff(self):
        """
        0.5 s doubling to 30 s, random jitter, reset after 30 s.
        """
        backoff = Backoff()

        assert (0.5, 2.0, 30.0, Jitter.RANDOM, 30.0) == (
            backoff.initial,
            backoff.factor,
            backoff.max,
            backoff.jitter,
            backoff.reset_after,
        )

    def test_dynamic_supervisor(self):
        """
        No cap on children, and the same intensity defaults as `Supervisor`.
        """
        pool = dyn()

        assert (None, 3, 5.0, Backoff(), Restart.PERMANENT, None) == (
            pool.max_children,
            pool.intensity,
            pool.period,
            pool.backoff,
            pool.restart,
            pool.shutdown,
        )


class TestFrozen:
    """
    Tests that specs cannot be changed after construction.
    """

    @pytest.mark.parametrize(
        ("spec", "field", "value"),
        [
            (Child(name="db", target=worker), "shutdown", 1.0),
            (Child(name="db", target=worker), "takes_task_status", True),
            (Supervisor(name="root"), "intensity", 10),
            (Backoff(), "initial", 1.0),
            (
                DynamicSupervisor(name="pool", template=Child(name="c", target=worker)),
                "max_children",
                2,
            ),
        ],
        ids=["child", "child-derived", "supervisor", "backoff", "dynamic"],
    )
    def test_assignment_refused(self, spec, field, value):
        """
        Assigning to any field raises `FrozenInstanceError`.
        """
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(spec, field, value)

    def test_kwargs_read_only(self):
        """
        A child's kwargs cannot be changed through the spec.
        """
        child = Child(name="db", target=worker, kwargs={"port": 5432})

        with pytest.raises(TypeError):
            child.kwargs["port"] = 1  # type: ignore[index]

    def test_kwargs_copied(self):
        """
        Changing the dict passed in does not change the spec.
        """
        kwargs = {"port": 5432}
        child = Child(name="db", target=worker, kwargs=kwargs)
        kwargs["port"] = 1

        assert {"port": 5432} == dict(child.kwargs)

    def test_args_become_a_tuple(self):
        """
        A list of args is stored as a tuple.
        """
        child = Child(name="db", target=worker, args=[1, 2])

        assert (1, 2) == child.args

    def test_evolve(self):
        """
        `attrs.evolve` is the way to change a spec, and it validates again.
        """
        child = Child(name="db", target=worker)

        assert 1.0 == attrs.evolve(child, shutdown=1.0).shutdown
        with pytest.raises(SpecError):
            attrs.evolve(child, shutdown=0)
