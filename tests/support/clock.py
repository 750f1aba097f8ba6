"""A clock the test drives: `clock()` answers `clock.now`; `clock.sleep(s)` moves it on."""
from __future__ import annotations


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
