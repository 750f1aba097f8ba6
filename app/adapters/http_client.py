"""Outbound HTTP (requests): every call has a timeout; failures become DependencyUnavailable."""
from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import requests

from ..core.errors import BadGateway, DependencyUnavailable, TokenRefusedByProvider

MAX_DOCUMENT_BYTES = 1_000_000


class GroupSlots:
    """`size` slots shared by every worker of a process group: one lock file each in `directory`,
    a slot held by an exclusive `flock` on its own open file. Taking one never waits (LOCK_NB), and
    the kernel drops a lock with the file's last descriptor, so a worker killed or recycled while
    it waits on a provider gives its slot back by dying: nothing to reset on respawn. Costs a few
    system calls per outbound call, none per check."""

    def __init__(self, directory: str, size: int) -> None:
        self.size = size
        self.paths = [os.path.join(directory, f"outbound-{i}.lock") for i in range(size)]

    def take(self) -> int | None:
        """A held slot (its file descriptor), or None when all are held."""
        for path in self.paths:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # held by another check, in this worker or another
                os.close(fd)
                continue
            return fd
        return None

    @staticmethod
    def give(fd: int) -> None:
        os.close(fd)  # the lock goes with the descriptor


class CallGate:
    """At most `limit` checks of this worker wait on a provider at once (0: no limit), and with
    `group`, at most `group.size` checks of the whole process group: an outbound call, or a wait for
    a JWKS fetch another check started (core/external_tokens.py).

    Under uWSGI each such wait holds a worker's thread; past either limit it fails at once with
    DependencyUnavailable instead of queueing, so neither a hung provider nor a flood of unknown
    kids can take the last thread of a worker (several threads per worker) or the last workers of
    the group (one thread per worker) from the checks that need no provider
    (docs/operations.md "Bounds under faults"). The budget counts threads, not calls: a thread
    that holds a slot makes its calls under it (a key fetch's discovery and JWKS calls, led by a
    check that took its slot before others could wait for that fetch)."""

    def __init__(self, limit: int = 0, group: GroupSlots | None = None) -> None:
        self.limit = limit
        self.group = group
        self._slots = threading.BoundedSemaphore(limit) if limit else None
        self._holding = threading.local()  # a thread (greenlet) holding a slot makes its calls under it

    @contextmanager
    def __call__(self, what: str) -> Iterator[None]:
        if (self._slots is None and self.group is None) or getattr(self._holding, "slot", False):
            yield
            return
        if self._slots is not None and not self._slots.acquire(blocking=False):
            raise DependencyUnavailable(f"{self.limit} calls of this worker already wait on the network; "
                                        f"not waiting for {what}")
        shared = None
        try:
            if self.group is not None:
                shared = self.group.take()
                if shared is None:
                    raise DependencyUnavailable(f"{self.group.size} calls of this worker group already wait on "
                                                f"the network; not waiting for {what}")
            self._holding.slot = True
            try:
                yield
            finally:
                self._holding.slot = False
        finally:
            if shared is not None:
                self.group.give(shared)  # type: ignore[union-attr]
            if self._slots is not None:
                self._slots.release()


def call_gate(limit: int, group_dir: str | None, group_size: int | None) -> CallGate:
    """A worker's gate: its own limit, and the group's when `serve-check` gave it a directory."""
    return CallGate(limit, GroupSlots(group_dir, group_size) if group_dir and group_size else None)


class JsonFetcher:
    """GET a JSON object (JWKS, discovery) over a pooled session."""

    def __init__(self, timeout: float, gate: CallGate | None = None) -> None:
        self.session = requests.Session()
        self.timeout = timeout
        self.gate = gate or CallGate()

    def __call__(self, url: str) -> dict[str, Any]:
        try:
            with self.gate("a key document"):
                response = self.session.get(url, timeout=self.timeout, headers={"Accept": "application/json"})
            response.raise_for_status()
            if len(response.content) > MAX_DOCUMENT_BYTES:
                raise DependencyUnavailable("document too large")
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise DependencyUnavailable("could not fetch a key document") from exc
        if not isinstance(document, dict):
            raise DependencyUnavailable("key document is not a JSON object")
        return document


class UserinfoCaller:
    """Call the configured USERINFO_URL forwarding the caller's credential headers."""

    def __init__(self, url: str, timeout: float, gate: CallGate | None = None) -> None:
        self.session = requests.Session()
        self.url = url
        self.timeout = timeout
        self.gate = gate or CallGate()

    def __call__(self, headers: dict[str, str]) -> tuple[int, Any]:
        try:
            with self.gate("the userinfo service"):
                response = self.session.get(self.url, headers=headers, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise DependencyUnavailable("the userinfo service is unreachable") from exc
        if response.status_code >= 500:
            raise DependencyUnavailable(f"the userinfo service answered {response.status_code}")
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise DependencyUnavailable("userinfo answer too large")
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return response.status_code, body


class IntrospectionCaller:
    """RFC 7662 POST to a configured introspection endpoint, authenticated with client_secret_basic."""

    def __init__(self, url: str, client_id: str, client_secret: str, timeout: float,
                 gate: CallGate | None = None) -> None:
        self.session = requests.Session()
        self.session.auth = (client_id, client_secret)
        self.url = url
        self.timeout = timeout
        self.gate = gate or CallGate()

    def __call__(self, token: str) -> dict[str, Any]:
        try:
            with self.gate("the introspection endpoint"):
                response = self.session.post(self.url, data={"token": token}, timeout=self.timeout,
                                             headers={"Accept": "application/json"}, allow_redirects=False)
            response.raise_for_status()
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise DependencyUnavailable("the introspection endpoint is unavailable") from exc
        if not isinstance(body, dict):
            raise DependencyUnavailable("introspection answer is not a JSON object")
        return body


class ProviderClient:
    """Identity providers at login: discovery, JWKS and user documents (GET) and the code
    redemption (POST). Timeouts on every call; no redirects followed."""

    def __init__(self, timeout: float, gate: CallGate | None = None) -> None:
        self.session = requests.Session()
        self.timeout = timeout
        self.gate = gate or CallGate()

    def get_json(self, url: str, bearer: str | None = None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        try:
            with self.gate("the identity provider"):
                response = self.session.get(url, headers=headers, timeout=self.timeout, allow_redirects=False)
            response.raise_for_status()
            if len(response.content) > MAX_DOCUMENT_BYTES:
                raise BadGateway("the identity provider's answer is too large")
            document = response.json()
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "an error"
            if bearer and status in (401, 403):
                raise TokenRefusedByProvider(f"the identity provider answered {status}") from exc
            raise BadGateway(f"the identity provider answered {status}") from exc
        except (requests.RequestException, ValueError) as exc:
            raise DependencyUnavailable("the identity provider is unreachable") from exc
        if not isinstance(document, dict):
            raise BadGateway("the identity provider's answer is not a JSON object")
        return document

    def redeem(self, url: str, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
        try:
            with self.gate("the identity provider"):
                response = self.session.post(url, data=form, auth=basic, timeout=self.timeout,
                                             allow_redirects=False, headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise DependencyUnavailable("the identity provider is unreachable") from exc
        try:
            body = response.json() if len(response.content) <= MAX_DOCUMENT_BYTES else None
        except ValueError:
            body = None
        return response.status_code, body if isinstance(body, dict) else {}
