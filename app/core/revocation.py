"""What must never come back: revoked access tokens (`jti`), ended login sessions (`sid`), ended
BFF sessions (`bff`) and client cut-offs (`client`: every token of the client issued up to then).

`Revocations` is the one writer: durably first (MongoDB), then to a feed (Redis) for the workers.
`RevocationMirror` is each worker's copy, which /auth asks from memory: it pulls the feed, reloads
on a new epoch, and reconciles with the durable store in a thread of its own. The bounds and why:
docs/production.md "Revocation is final, and the fast path".
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
import weakref
from typing import Any, Callable, Iterable, Protocol, Sequence

from .errors import DependencyUnavailable, InvalidToken
from .tokens import OWN_TOKEN_LEEWAY_SECONDS
from .ports import RevocationFeed, RevocationStore
from .records import FeedBatch, Revocation

# Which process this is, as a count of forks: a mirror's reconciler thread belongs to the process
# that started it, and the check asks this list instead of os.getpid() (a system call per check).
_PROCESS = [0]
os.register_at_fork(after_in_child=lambda: _PROCESS.__setitem__(0, _PROCESS[0] + 1))

# The kinds of revocation entry: a revoked access token, an ended login session, an ended BFF
# session, a client cut-off.
REVOKED_TOKEN, ENDED_SESSION, ENDED_BFF_SESSION, CLIENT_CUT_OFF = "jti", "sid", "bff", "client"
KINDS = (REVOKED_TOKEN, ENDED_SESSION, ENDED_BFF_SESSION, CLIENT_CUT_OFF)
Key = tuple[str, str]  # (kind, key)
# How far back each reconcile reads before the start of the last one: the writers' clocks may lag
# the worker's, and a write may commit after a later one was read.
RECONCILE_MARGIN_SECONDS = 30.0

log = logging.getLogger("gatehouse.revocation")


class RevocationView(Protocol):
    """Answers which of some (kind, key) pairs are revoked: a worker's mirror, or the store."""

    def find(self, keys: Sequence[Key]) -> list[Revocation]: ...


class MirroredView(RevocationView, Protocol):
    """A worker's mirror, which also says when it last started again from the durable store:
    `generation` grows at each reload (start-up, a feed that expired, restarted or lost data).
    What a worker remembers of Redis-held data is worthless once it has grown."""

    @property
    def generation(self) -> int: ...


def merge(into: dict[Key, Revocation], entry: Revocation) -> None:
    """Keep the strongest entry per key: the latest cut-off and the longest life."""
    old = into.get((entry.kind, entry.key))
    if old is None:
        into[(entry.kind, entry.key)] = entry
    elif entry.at > old.at or entry.until > old.until:
        into[(entry.kind, entry.key)] = Revocation(entry.kind, entry.key, max(entry.at, old.at),
                                                   max(entry.until, old.until))


def token_keys(claims: dict[str, Any]) -> list[Key]:
    """The entries that can name an access token of ours: its jti, and its client's cut-off."""
    keys: list[Key] = [(REVOKED_TOKEN, str(claims.get("jti")))]
    client = claims.get("client_id", claims.get("sub"))
    if isinstance(client, str):
        keys.append((CLIENT_CUT_OFF, client))
    return keys


def token_refusal(found: Iterable[Revocation], claims: dict[str, Any]) -> str | None:
    """Why an access token is refused, given the live entries naming it; None if it is not."""
    for entry in found:
        if entry.kind == REVOKED_TOKEN:
            return "token has been revoked"
        issued = claims.get("iat")
        if entry.kind == CLIENT_CUT_OFF and (not isinstance(issued, (int, float)) or issued <= entry.at):
            return "the client's tokens have been revoked"
    return None


class Revocations:
    """Records revocations (durably, then to the feed) and answers from the durable store."""

    def __init__(self, store: RevocationStore, feed: RevocationFeed,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.feed = feed
        self.clock = clock

    def revoke(self, kind: str, key: str, until: float, at: float | None = None) -> bool:
        """Durable first, then fanned out; done once durable. MongoDB down: still fanned out
        (running workers refuse at once) but DependencyUnavailable, so the caller retries. Redis
        down: done all the same, answered False (not published): running workers learn of it
        when they next reconcile with the store, workers started later when they load it."""
        entry = Revocation(kind, key, self.clock() if at is None else at, until)
        try:
            self.store.record(entry)
        except DependencyUnavailable:
            self._publish(entry)
            raise
        return self._publish(entry)

    def _publish(self, entry: Revocation) -> bool:
        try:
            self.feed.publish(entry)
        except DependencyUnavailable as exc:
            log.warning("revocation not published to the feed; workers reconcile with MongoDB",
                        extra={"kind": entry.kind, "detail": exc.description})
            return False
        return True

    def find(self, keys: Sequence[Key]) -> list[Revocation]:
        """Live entries among `keys`, from the durable store (at once; /tokeninfo, introspection)."""
        return self.store.find(keys, self.clock())

    def ensure_token_active(self, claims: dict[str, Any]) -> None:
        problem = token_refusal(self.find(token_keys(claims)), claims)
        if problem:
            raise InvalidToken(problem)


class ClientCutOff:
    """Cutting a client off (disable, revoke-tokens): every token issued to it before the answer
    is refused — at /auth within the mirror's bound, at /tokeninfo and introspection at once.
    The cut-off lies `settle_seconds` (the mirrors' bound) ahead, so tokens a worker issues from
    its memory of the client before it learns of the cut-off are refused too; the answer waits
    until then. When the feed missed it, workers learn of it only at their next reconcile: the
    cut-off is moved `reconcile_seconds` ahead instead, and the answer waits for that."""

    def __init__(self, revocations: Revocations, token_lifetime: float, settle_seconds: float,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 reconcile_seconds: float = 0.0) -> None:
        self.revocations = revocations
        self.lifetime = token_lifetime
        self.settle = settle_seconds
        self.reconcile = reconcile_seconds
        self.sleep = sleep
        self.clock = clock

    def __call__(self, client_id: str) -> None:
        at = self.clock() + self.settle
        if not self._cut(client_id, at) and self.reconcile > self.settle:
            at = self.clock() + self.reconcile
            self._cut(client_id, at)  # the store keeps the later cut-off
        # Tokens carry whole-second `iat`s: wait past the cut-off's second, so that a token asked
        # for after this answer is never taken for one issued before it.
        self.sleep(max(0.0, math.floor(at) + 1 - self.clock()))

    def _cut(self, client_id: str, at: float) -> bool:
        return self.revocations.revoke(CLIENT_CUT_OFF, client_id, at + self.lifetime + OWN_TOKEN_LEEWAY_SECONDS + 1,
                                       at=at)


def client_cut_at(view: RevocationView, client_id: str) -> float | None:
    """The latest cut-off of a client, if any (for workers' memories of recent clients)."""
    found = view.find(((CLIENT_CUT_OFF, client_id),))
    return max(e.at for e in found) if found else None


class RevocationMirror:
    """One worker's copy of every live revocation (see the module docstring)."""

    def __init__(self, feed: RevocationFeed, store: RevocationStore, interval: float,
                 wait_seconds: float = 5.0, retry_seconds: float | None = None,
                 clock: Callable[[], float] = time.time, reconcile_seconds: float = 0.0) -> None:
        self.feed = feed
        self.store = store
        self.interval = interval
        self.wait_seconds = wait_seconds
        self.retry_seconds = retry_seconds if retry_seconds is not None else min(max(interval, 0.25), 1.0)
        self.clock = clock
        self._entries: dict[Key, Revocation] = {}
        self._cursor = 0
        self._epoch: str | None = None
        self._loaded = False
        self._pulled_from = float("-inf")  # start time of the last successful pull
        self._retry_at = float("-inf")
        self._lock = threading.Lock()  # guards the bookkeeping only, never held across I/O
        self._inflight: threading.Event | None = None
        self.pulls = self.reloads = self.reconciles = 0
        self.reconcile_seconds = reconcile_seconds  # 0: no background reconcile (tests drive it)
        self._reconciled_from = float("-inf")  # start of the last load or reconcile
        self._reconciler_process = -1  # the process (_PROCESS) whose thread reconciles (a fork has none)

    def find(self, keys: Sequence[Key]) -> list[Revocation]:
        """Live entries among `keys`, known as of at most `interval` seconds ago (what the feed
        missed: as of at most `reconcile_seconds` ago)."""
        if self._reconciler_process != _PROCESS[0] and self.reconcile_seconds > 0:
            self._start_reconciler()
        now = self.clock()
        if not now - self._pulled_from < self.interval:
            self._ensure_fresh(now)
        found = []
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and entry.until > now:
                found.append(entry)
        return found

    @property
    def generation(self) -> int:
        """How many times the mirror (re)loaded everything: a discontinuity of the feed."""
        return self.reloads

    def contains(self, kind: str, key: str) -> bool:
        return bool(self.find(((kind, key),)))

    def ensure_token_active(self, claims: dict[str, Any]) -> None:
        problem = token_refusal(self.find(token_keys(claims)), claims)
        if problem:
            raise InvalidToken(problem)

    def reconcile(self) -> int:
        """Merge what the durable store recorded since the last load or reconcile (less
        RECONCILE_MARGIN_SECONDS): what the feed missed. The number of entries read."""
        if not self._loaded:
            return 0  # the first pull loads everything
        started = self.clock()
        found = self.store.recorded_since(self._reconciled_from - RECONCILE_MARGIN_SECONDS, started)
        with self._lock:
            for entry in found:
                merge(self._entries, entry)
            self._reconciled_from = max(self._reconciled_from, started)
            self.reconciles += 1
        return len(found)

    def _start_reconciler(self) -> None:
        with self._lock:
            if self._reconciler_process == _PROCESS[0]:
                return
            self._reconciler_process = _PROCESS[0]
        # The thread holds the mirror weakly: it ends with the mirror (an app that is gone).
        threading.Thread(target=_reconcile_every, args=(weakref.ref(self), self.reconcile_seconds),
                         name="revocation-reconcile", daemon=True).start()

    def _ensure_fresh(self, arrived: float) -> None:
        """Single flight: one caller pulls, the others wait for it at most `wait_seconds`."""
        deadline = arrived + self.wait_seconds
        waited = False
        while True:
            with self._lock:
                # A pull that started less than `interval` before the arrival answers for this
                # caller; with interval 0, only one it waited for that started at or after it.
                if arrived - self._pulled_from < self.interval or (waited and self._pulled_from >= arrived):
                    return
                if self.clock() < self._retry_at:
                    raise DependencyUnavailable("revocations cannot be pulled (a dependency is down)")
                event = self._inflight
                leader = event is None
                if leader:
                    event = self._inflight = threading.Event()
            assert event is not None
            if leader:
                self._lead(event)
                return
            remaining = deadline - self.clock()
            if remaining <= 0 or not event.wait(remaining):
                raise DependencyUnavailable("revocations did not arrive in time")
            waited = True

    def _lead(self, event: threading.Event) -> None:
        started = self.clock()
        try:
            self._pull(started)
        except BaseException:
            with self._lock:
                self._retry_at = self.clock() + self.retry_seconds
                self._inflight = None
            event.set()
            raise
        with self._lock:
            self._pulled_from = max(self._pulled_from, started)
            self._inflight = None
        event.set()

    def _pull(self, now: float) -> None:
        self.pulls += 1
        batch = self.feed.since(self._cursor)
        if self._loaded and batch.epoch == self._epoch and batch.current >= self._cursor:
            with self._lock:  # the reconciler merges too
                for entry in batch.entries:
                    merge(self._entries, entry)
        else:
            # Start-up, or a feed that is not the one we were reading: the feed alone may have
            # lost entries, so everything live is read again from the durable store. The feed is
            # read first: whatever is recorded after the store was read is published after it.
            if self._cursor:
                batch = self.feed.since(0)
            entries: dict[Key, Revocation] = {}
            for entry in [*self.store.active(now), *batch.entries]:
                merge(entries, entry)
            with self._lock:
                self._entries = entries
                self._reconciled_from = max(self._reconciled_from, now)
            self._epoch, self._loaded = batch.epoch, True
            self.reloads += 1
        self._cursor = batch.current
        if len(self._entries) > 1024 and self.pulls % 64 == 0:  # drop what has expired anyway
            with self._lock:
                self._entries = {k: e for k, e in self._entries.items() if e.until > now}

    def __len__(self) -> int:
        return len(self._entries)


def _reconcile_every(ref: "weakref.ReferenceType[RevocationMirror]", seconds: float) -> None:
    """A worker's background reconcile: never on a check's path. MongoDB down: logged once per
    outage, tried again at the next period; the feed keeps serving meanwhile."""
    failing = False
    while True:
        time.sleep(seconds)
        mirror = ref()
        if mirror is None:
            return
        try:
            mirror.reconcile()
            failing = False
        except DependencyUnavailable as exc:
            if not failing:
                log.warning("revocations cannot be reconciled with MongoDB", extra={"detail": exc.description})
            failing = True
        except Exception:  # noqa: BLE001 - the thread must outlive any one failure
            log.exception("revocation reconcile failed")
        del mirror
