"""
The instance's membership of its fleet in etcd, as a service of the tree
(``_system/etcd``): the lease, the registration key, and the elections of its
fleet singletons (the `Coordinator` of `supervisor._runtime.singleton`).

One lease per *session*: while the tree is ready (`_decide.next_membership`,
one observation every ``interval`` seconds), the service holds a lease, renews
it every TTL/3 and keeps ``/services/<service>/<instance>`` on it; singletons
campaign on the same lease. A session ends when:

* the tree stops being ready (N failures in a row) or begins to stop: the
  singletons' terms are cancelled, their children stop, and only then is the
  lease revoked (the key and the election keys vanish at once, and the next
  instance takes over without waiting for the TTL);
* a keepalive answers without a TTL (`LeaseGone`: etcd restarted, or the lease
  expired): a new session, a new lease, registered again;
* etcd cannot be reached until `_decide.stop_deadline` (a third of the TTL
  before the lease can expire): the terms are cancelled so that the holder has
  stopped its singletons before anyone else can be elected.

Nothing here can hurt the tree: every etcd error is caught, shown (the INFO
check ``etcd``, events, metrics) and retried with backoff; the service only
ever stops its own work. Shutdown leaves the fleet in `before_stop` (the
service protocol's), before any user child stops (bounded by ``timeout``).
"""

from __future__ import annotations

import functools
import socket
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import TYPE_CHECKING

import attrs
import trio

from ..._checks import CheckState
from ..._fleet import EtcdOptions
from ..._log import get_logger
from ..._runtime.services import Service
from ..._runtime.singleton import Term, serving
from ..._spec import Child
from . import _decide
from ._client import EtcdClient
from ._errors import EtcdError, InstanceTaken, LeaseGone, LeaseNotFound
from ._mapping import Leader, Lease
from ._status import FleetStatus

if TYPE_CHECKING:
    from ..._runtime.tree import Tree

_log = get_logger("supervisor.etcd")

# Waits between failed attempts (grant, register, campaign): short first, so
# that a restarted etcd is joined again within a second or two.
_RETRY = (0.1, 0.25, 0.5, 1.0, 2.0)


class _Unreachable(LeaseGone):
    """etcd did not answer until the stop deadline: the lease may still live there."""


@attrs.define(eq=False)
class _Session:
    """One lease and what hangs on it."""

    lease: Lease
    renewed: float  # trio time the last answered keepalive was sent
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    terms: set[Term] = attrs.Factory(set)
    leaders: dict[str, Leader] = attrs.Factory(dict)  # path -> election won
    done: dict[Term, trio.Event] = attrs.Factory(
        dict
    )  # set once a term's child stopped
    ending: bool = False  # its terms are being ended: no resign, the revoke follows
    campaigns: set[trio.CancelScope] = attrs.Factory(set)  # cancelled when it ends
    lost: EtcdError | None = None  # why it ended, if etcd ended it

    def lose(self, error: EtcdError) -> None:
        if self.lost is None:
            self.lost = error
        self.scope.cancel()


class EtcdMember(Service["Tree"]):
    """Registration and singleton elections in etcd (see the module doc)."""

    def __init__(self, options: EtcdOptions) -> None:
        self.options = options
        self.instance = options.instance or ""
        self.client: EtcdClient | None = None
        self._session: _Session | None = None
        self._changed = trio.Event()  # a session began or ended, or it registered
        self._stale: set[int] = set()  # leases that could not be revoked (etcd down)
        self._membership = _decide.Membership(False, 0)
        self._leaving = False  # the tree stops: never join again
        self._started_at = time.time()
        #: What the tree shows: the INFO check ``etcd`` and the gauges.
        self.status = FleetStatus(options.service)

    # ---- the service protocol -----------------------------------------------------

    def check_states(self) -> Sequence[CheckState]:
        return [self.status.check]

    def children(self, tree: Tree) -> Sequence[Child]:
        return [
            Child(name="etcd", target=functools.partial(self._run, tree), shutdown=2)
        ]

    def opened(self, tree: Tree) -> AbstractAsyncContextManager[object]:
        return self._opened(tree)

    @asynccontextmanager
    async def _opened(self, tree: Tree) -> AsyncIterator[None]:
        options = self.options
        self.status.invalidate = tree.observer.invalidate
        self.client = EtcdClient(
            options.endpoints,
            username=options.username,
            password=options.password,
            timeout=options.timeout,
        )
        self._show(tree, None)
        try:
            with serving(self):
                yield
        finally:
            await self.client.aclose()
            self.client = None

    # ---- the registration loop ----------------------------------------------------

    def _instance(self, tree: Tree) -> str:
        if self.options.instance:
            return self.options.instance
        port = None
        if tree.http_addresses:
            port = int(tree.http_addresses[0].rpartition(":")[2])
        return _decide.default_instance(socket.gethostname(), port)

    def _url(self, tree: Tree) -> str:
        if self.options.advertise:
            return self.options.advertise
        if not tree.http_addresses:
            return ""
        host, _, port = tree.http_addresses[0].rpartition(":")
        if host in ("0.0.0.0", "[::]", "::"):
            host = socket.gethostname()  # every interface: name this host
        return f"http://{host}:{port}"

    async def _run(self, tree: Tree) -> None:
        """``_system/etcd``: join the fleet while ready, leave when not, forever."""
        self.instance = self._instance(tree)
        attempt = 0
        while True:
            if not await self._wait_member(tree):
                await trio.sleep_forever()  # the tree stops; the hook left already
            try:
                await self._session_run(tree)
                attempt = 0
            except EtcdError as exc:
                self._show(tree, exc)
                _log.warning(
                    "etcd_unavailable",
                    service=self.options.service,
                    instance=self.instance,
                    error=str(exc),
                )
                await trio.sleep(_RETRY[min(attempt, len(_RETRY) - 1)])
                attempt += 1

    async def _wait_member(self, tree: Tree) -> bool:
        """Observe readiness every interval until the tree belongs in the fleet."""
        while not self._observe(tree):
            if self._leaving:
                return False
            await trio.sleep(self.options.interval)
        return not self._leaving

    def _observe(self, tree: Tree) -> bool:
        observer = tree.observer
        self._membership = _decide.next_membership(
            self._membership,
            ready=observer.verdicts()["readyz"],
            shutting_down=observer.shutting_down or self._leaving,
            threshold=self.options.failures,
        )
        return self._membership.member

    async def _session_run(self, tree: Tree) -> None:
        """One lease: grant, register, keep alive, watch readiness; revoke at the end."""
        client = self.client
        assert client is not None
        await self._revoke_stale()
        sent = trio.current_time()
        lease = await client.grant(self.options.ttl)
        session = _Session(lease=lease, renewed=sent)
        self._set_session(session)
        if self._leaving:  # the tree began to stop during the grant
            session.scope.cancel()
        try:
            # Nothing raises out of this nursery: etcd's answers end the
            # session through `_Session.lose` (and the scope it cancels).
            with session.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._keepalive, tree, session)
                    await self._register(tree, session)
                    # Polled, not awaited on a change: the rule counts
                    # consecutive observations, one per interval.
                    while self._observe(tree):  # noqa: ASYNC110
                        await trio.sleep(self.options.interval)
                    nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self._end_session(tree, session)
        if session.lost is not None:
            raise session.lost

    async def _revoke_stale(self) -> None:
        """Leases of sessions etcd could not be told about (down): revoke them now."""
        client = self.client
        assert client is not None
        for lease_id in sorted(self._stale):
            with suppress(LeaseNotFound):
                await client.revoke(lease_id)
            self._stale.discard(lease_id)

    async def _register(self, tree: Tree, session: _Session) -> None:
        client = self.client
        assert client is not None
        key = _decide.registration_key(self.options.service, self.instance)
        value = _decide.registration_value(
            url=self._url(tree),
            instance=self.instance,
            started_at=self._started_at,
            metadata=self.options.metadata,
        )
        attempt = 0
        while True:
            began = time.perf_counter()
            try:
                await client.put_if_absent(key, value, session.lease.id)
                break
            except InstanceTaken as exc:
                _log.error("etcd_instance_taken", key=key, holder=f"{exc.lease_id:x}")
                self._show(tree, exc)
            except LeaseNotFound as exc:
                session.lose(exc)
                await trio.sleep_forever()  # the session's scope is cancelled
            except EtcdError as exc:
                self._show(tree, exc)
            await trio.sleep(_RETRY[min(attempt, len(_RETRY) - 1)] * 5)
            attempt += 1
        self.registered = True
        self._notify()
        self._show(tree, None)
        _log.info(
            "etcd_registered",
            key=key,
            lease=f"{session.lease.id:x}",
            seconds=round(time.perf_counter() - began, 4),
        )

    async def _keepalive(self, tree: Tree, session: _Session) -> None:
        """Renew every TTL/3; past the stop deadline without an answer, end the terms."""
        client = self.client
        assert client is not None
        ttl = session.lease.ttl
        interval = _decide.keepalive_interval(ttl)
        due = session.renewed + interval
        while True:
            deadline = _decide.stop_deadline(session.renewed, ttl)
            await trio.sleep_until(min(due, deadline))
            if trio.current_time() >= deadline:
                break
            sent = trio.current_time()
            with trio.move_on_at(deadline):
                try:
                    await client.keepalive(session.lease.id)
                except (LeaseGone, LeaseNotFound) as exc:
                    session.lose(exc)
                    return
                except EtcdError as exc:
                    self._show(tree, exc)
                    due = trio.current_time() + min(interval, 0.5)
                    continue
                session.renewed = sent
                due = sent + interval
                if self.registered and self.status.failing:
                    self._show(tree, None)  # etcd answers again
        # Out of contact for two thirds of the TTL: stop the singletons now,
        # before the lease can expire and another instance be elected.
        _log.error(
            "etcd_contact_lost",
            lease=f"{session.lease.id:x}",
            seconds_since_renewal=round(trio.current_time() - session.renewed, 3),
        )
        session.lose(_Unreachable(session.lease.id))

    async def _end_session(self, tree: Tree, session: _Session) -> None:
        """Stop the terms (and so their children), then revoke the lease."""
        session.ending = True
        for scope in list(session.campaigns):
            scope.cancel()
        for term in list(session.terms):
            term.scope.cancel()
        # The singletons stop before the lease goes: no moment with two holders
        # (a term won meanwhile is cancelled before its child runs, and waited
        # for too).
        with trio.move_on_after(session.lease.ttl):
            while waiting := [e for e in session.done.values() if not e.is_set()]:
                await waiting[0].wait()
        was = self.registered
        self.registered = False
        gone = isinstance(session.lost, LeaseGone | LeaseNotFound) and not isinstance(
            session.lost, _Unreachable
        )
        if (
            not gone
            and self.client is not None
            and not await self._revoke(session.lease.id)
        ):
            self._stale.add(session.lease.id)  # etcd down: revoked when back
        if self._session is session:
            self._set_session(None)  # after the revoke: `before_stop` waits for it
        self._show(tree, session.lost)
        if was:
            reason = "shutdown" if self._leaving else "unready"
            if session.lost is not None:
                reason = type(session.lost).__name__
            _log.info(
                "etcd_deregistered",
                service=self.options.service,
                instance=self.instance,
                reason=reason,
            )

    async def _revoke(self, lease_id: int) -> bool:
        """Revoke now (the keys on it vanish at once); False if etcd did not answer."""
        assert self.client is not None
        with trio.move_on_after(self.options.timeout):
            try:
                await self.client.revoke(lease_id)
            except LeaseNotFound:
                return True
            except EtcdError:
                return False
            return True
        return False

    async def before_stop(self) -> None:
        """The tree begins to stop: leave the fleet before any of its children stops."""
        self._leaving = True
        session = self._session
        if session is not None:
            session.scope.cancel()
            with trio.move_on_after(self.options.timeout + session.lease.ttl):
                while self._session is session:
                    await self._changed.wait()

    def _set_session(self, session: _Session | None) -> None:
        self._session = session
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # ---- the coordinator (singletons) -----------------------------------------------

    def leadership(self, path: str) -> AbstractAsyncContextManager[Term]:
        return self._leadership(path)

    @asynccontextmanager
    async def _leadership(self, path: str) -> AsyncIterator[Term]:
        status = self.status
        status.waiting.add(path)
        status.changed()
        try:
            session, leader = await self._campaign(path)
        finally:
            status.waiting.discard(path)
        term = Term(token=leader.rev)
        done = trio.Event()
        session.terms.add(term)
        session.done[term] = done
        session.leaders[path] = leader
        status.holding[path] = leader.rev
        status.changed()
        _log.info("singleton_elected", path=path, token=leader.rev)
        try:
            if session.ending:
                term.scope.cancel()
            yield term
        finally:
            session.terms.discard(term)
            session.leaders.pop(path, None)
            status.holding.pop(path, None)
            done.set()
            status.changed()
            _log.info("singleton_resigned", path=path, token=leader.rev)
            if not session.ending and self.client is not None:
                # On failure the lease (and its key) ends with the session.
                with (
                    trio.CancelScope(shield=True),
                    trio.move_on_after(self.options.timeout),
                    suppress(EtcdError),
                ):
                    await self.client.resign(leader)

    async def _campaign(self, path: str) -> tuple[_Session, Leader]:
        """Wait for a registered session, campaign on its lease; again if it ends."""
        name = _decide.election_name(self.options.service, path)
        attempt = 0
        while True:
            session = self._session
            if session is None or session.ending or not self.registered:
                await self._changed.wait()
                continue
            leader = await self._campaign_once(session, name, path)
            if leader is not None and self._session is session and not session.ending:
                return session, leader
            if leader is None and self._session is session and not session.ending:
                await trio.sleep(_RETRY[min(attempt, len(_RETRY) - 1)])
                attempt += 1

    async def _campaign_once(
        self, session: _Session, name: str, path: str
    ) -> Leader | None:
        client = self.client
        assert client is not None
        scope = trio.CancelScope()
        session.campaigns.add(scope)
        try:
            with scope:  # cancelled when the session ends
                leader = await client.campaign(name, session.lease.id, self.instance)
                # A lease revoked while the campaign waited still "wins":
                # the key must still be ours.
                kvs = await client.get(leader.key)
                if kvs and kvs[0].create_revision == leader.rev:
                    return leader
        except EtcdError as exc:
            _log.warning("singleton_campaign_failed", path=path, error=str(exc))
        finally:
            session.campaigns.discard(scope)
        return None

    # ---- what the tree shows ------------------------------------------------------

    @property
    def registered(self) -> bool:
        return self.status.registered

    @registered.setter
    def registered(self, value: bool) -> None:
        self.status.registered = value

    def _show(self, tree: Tree, error: BaseException | None) -> None:
        """Record the registration in the INFO check (and metrics)."""
        self.status.key = _decide.registration_key(self.options.service, self.instance)
        self.status.show(error, leaving=self._leaving, member=self._membership.member)
