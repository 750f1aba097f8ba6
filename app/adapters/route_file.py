"""Reload the route file without a restart: each worker checks the file's mtime and size at
most once per interval; a new valid file replaces the table, an invalid one is logged and the
old table stays (docs/auth.md "Route matching")."""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

from ..core.check.policy.routes import RouteFileError, RouteTable

log = logging.getLogger("gatehouse.routes")


class RouteFileWatcher:
    def __init__(self, path: str, table: RouteTable, load: Callable[[str], RouteTable],
                 interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.table = table
        self.load = load
        self.interval = interval
        self.clock = clock
        self._signature = self._stat()
        self._next_check = clock() + interval
        self._lock = threading.Lock()
        self.force = threading.Event()  # set by SIGHUP in a worker: check on the next request

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def __call__(self) -> RouteTable:
        now = self.clock()
        if now < self._next_check and not self.force.is_set():
            return self.table
        with self._lock:
            self._next_check = now + self.interval
            self.force.clear()
            signature = self._stat()
            if signature is None or signature == self._signature:
                return self.table
            self._signature = signature
            try:
                self.table = self.load(self.path)
                log.info("route file reloaded", extra={"path": self.path})
            except RouteFileError as exc:
                log.error("route file refused, keeping the previous table",
                          extra={"path": self.path, "problems": exc.problems})
        return self.table
