"""The /auth answer memo: per worker, the answer of an allow kept under every request value its
decision could have read, served again while the allow's basis holds (core/check/authorizer.py
`Basis`: the same route table, and the credential's source names the same principal again, which
asks revocation, session state, expiry and keys as a first check does). Refusals are never kept.
Bounded in entries, oldest evicted first; ANSWER_MEMO_SIZE=0 turns it off."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .core.check.authorizer import Basis
from .request_parsing import SOCKET_PEER

# What the check reads of the request besides its headers (request_parsing.check_request and
# socket_peer, the edge's own path and method, the cookies).
REQUEST_VALUES = ("PATH_INFO", "QUERY_STRING", "RAW_URI", "REQUEST_URI", "SCRIPT_NAME", "REQUEST_METHOD",
                  "REMOTE_ADDR", SOCKET_PEER, "HTTP_COOKIE")
# A request and answer larger than this together (production-sized tokens and identities) are
# answered in full each time rather than kept: the memo's memory stays entries x this at most.
MAX_KEPT_CHARACTERS = 16 * 1024


@dataclass(frozen=True)
class Kept:
    """One kept answer: its status line and headers (all but the request id), what the decision
    log and the metrics are told, and what it rested on."""

    status: int
    status_line: str
    headers: tuple[tuple[str, str], ...]
    decision: Any
    original: Any
    basis: Basis


class AnswerMemo:
    """Kept answers by request values. The header names in the key are every name any check of
    this worker has asked for (`known`, the edge's WSGIHeaders names): a check that asks a new
    one empties the memo and keeps nothing, so a kept answer's key always covers what its
    decision read."""

    def __init__(self, max_entries: int, known: Mapping[str, str], known_limit: int) -> None:
        self.max_entries = max_entries
        self.known = known
        self.known_limit = known_limit
        self.hits = 0
        self._entries: dict[tuple[Any, ...], Kept] = {}
        self._names: tuple[str, ...] = ()
        self._seen = -1
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def key(self, environ: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The request's key, None when no answer may be kept for it (a full table of known names:
        past it, names are read without being remembered)."""
        if len(self.known) != self._seen:
            self._relearn()
        if self._seen >= self.known_limit:
            return None
        return tuple(map(environ.get, self._names))

    def _relearn(self) -> None:
        with self._lock:
            seen = len(self.known)
            self._names = REQUEST_VALUES + tuple(sorted(set(self.known.values()) - set(REQUEST_VALUES)))
            self._entries.clear()
            self._seen = seen

    def get(self, key: tuple[Any, ...]) -> Kept | None:
        return self._entries.get(key)

    def drop(self, key: tuple[Any, ...], kept: Kept) -> None:
        """`kept` no longer holds: forget it (unless another check kept a new answer meanwhile)."""
        with self._lock:
            if self._entries.get(key) is kept:
                del self._entries[key]

    def put(self, environ: Mapping[str, Any], key: tuple[Any, ...] | None, kept: Kept) -> None:
        """Keep `kept` for the request `environ`, whose key was `key` before its check: made again
        when the check asked for a name no check had asked before."""
        if key is None or len(self.known) != self._seen or len(key) != len(self._names):
            key = self.key(environ)  # names were learned since `key` was made (by this check or another)
        if key is None:
            return
        size = sum(len(v) for v in key if isinstance(v, str)) + sum(len(k) + len(v) for k, v in kept.headers)
        if size > MAX_KEPT_CHARACTERS:
            return
        with self._lock:
            if len(self.known) != self._seen or len(key) != len(self._names):
                return  # another name learned meanwhile (another thread's check)
            while len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = kept
