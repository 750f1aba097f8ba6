"""`gatehouse serve-check`: the /auth process group under uWSGI (CHECK_SERVER=gunicorn runs it
under gunicorn instead: HTTP only, app/serving/gunicorn_conf.py's role `check`).

nginx talks to the workers over the uwsgi protocol (`uwsgi_pass`); the probes, the metrics and the
check for proxies that only speak HTTP are on an HTTP socket of the same workers. This launcher
builds uWSGI's command line from Gatehouse's settings and drains on SIGTERM. What the group keeps
of the gunicorn group and why: docs/performance.md "The /auth group's server".
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket as sockets
import subprocess
import sys
import time
from typing import Any, Callable, Iterable

from .metrics_dir import metrics_dir_of, prepare_metrics_dir

# GATEHOUSE_CHECK_SOCKET / --socket: open no uwsgi-protocol socket.
NO_SOCKET = "none"
# The uwsgi protocol's largest packet (its size is 16 bits), for a 32 KB bearer token among other
# headers; a request whose headers do not fit, nginx answers 431 itself and uWSGI's HTTP socket
# closes (docs/proxies.md "Limits").
BUFFER_SIZE = 65535
# Header lines the check group takes: as many as fit in BUFFER_SIZE. uWSGI keeps each request
# variable (an `HTTP_*` header) as two vector entries, key and value, in a vector of 4 × max-vars
# entries; its default (64, so 128 variables) refuses a request of some 120 header lines by closing
# the connection, which nginx answers 500. The smallest variable is 10 bytes (the uwsgi protocol's two
# 2-byte sizes, `HTTP_` and a one-letter name), so BUFFER_SIZE holds at most 6,554 of them (the
# vector costs some 200 KB per thread; nginx itself sends at most 1,000 header lines).
MAX_VARS = (BUFFER_SIZE // 10 + 1) // 2 + 1
# uWSGI's own lines that name a request: `HARAKIRI [core 0] 127.0.0.1 - GET /auth?x=1 since ...`, `WAS
# managing request /auth?x=1`, `managing "GET /auth?x=1"`, `... during GET /auth?x=1 (127.0.0.1)`,
# `on request /auth?x=1 (ip ...)`.
REQUEST_NAMED = r"HARAKIRI \[core |managing request |managing \"| during [A-Z]+ /| on request "
# uWSGI's own lines (boot, respawns, harakiri) as JSON through the master's logger; Gatehouse's lines
# (already JSON objects, starting with `{`) are routed to a second logger that writes them as they are.
JSON_LOG = ["--log-master", "--logger", "gatehouse stdio", "--logger", "uwsgi stdio",
            "--log-route", "gatehouse ^\\{", "--log-route", "uwsgi ^[^{]",
            "--log-encoder", 'json:uwsgi {"time":${millis},"level":"info","logger":"uwsgi","msg":"${msg}"}',
            "--log-encoder", "nl:uwsgi",
            # uWSGI names the request a worker was serving by its whole target, query included, when
            # it kills or lists a worker (harakiri, SIGUSR2) or fails to write: over the HTTP socket
            # a proxy may send the original query (Envoy). Those lines go; the ones that say a worker
            # was killed stay.
            "--log-drain", REQUEST_NAMED]


def uwsgi_args(http: str, socket: str | None, processes: int, fifo: str, max_requests: int,
               mercy: int, min_lifetime: int = 10, threads: int = 1,
               module: str = "app.serving.uwsgi_app:application", gevent: int = 0, harakiri: int = 30,
               binary: str | None = None) -> list[str]:
    """The uWSGI command line of the check group (pyuwsgi's `uwsgi`). `binary`: the interpreter
    that uWSGI's own reload (SIGHUP to its master, `r` on the FIFO) executes again with the
    original command line, this environment's `python`; without it uWSGI runs the one behind
    /proc/self/exe, the base interpreter outside the virtual environment, and never comes back."""
    return [
        *(["--binary-path", binary] if binary else []),
        "--master", "--lazy-apps", "--enable-threads", "--single-interpreter", "--need-app", "--strict",
        "--processes", str(processes),
        # threads per worker: a check waiting on a slow provider holds one thread, not the process;
        # the thunder lock lets one thread at a time accept, so a new connection wakes one thread
        *(["--threads", str(threads), "--thunder-lock"] if threads > 1 and not gevent else []),
        *(["--gevent", str(gevent), "--gevent-early-monkey-patch"] if gevent else []),
        *(["--socket", socket] if socket else []),  # uwsgi protocol, for nginx's uwsgi_pass
        "--http-socket", http,  # /-/ready, /-/healthz, /-/metrics
        # The HTTP socket closes the connection after every answer (its keep-alive, --http11-socket,
        # holds a thread per idle connection and later closes it unannounced): saying so keeps a
        # pooled client from sending its next request onto a closing connection (a reset).
        "--add-header", "Connection: close",
        "--module", module,
        "--buffer-size", str(BUFFER_SIZE), "--max-vars", str(MAX_VARS),
        "--max-requests", str(max_requests),
        # A worker is recycled after max_requests only once it has lived this long (uWSGI's default).
        "--min-worker-lifetime", str(min_lifetime),
        # The last resort: Gatehouse's outbound timeouts bound each wait on a provider first.
        "--harakiri", str(harakiri),
        "--worker-reload-mercy", str(mercy), "--reload-mercy", str(mercy),
        "--master-fifo", fifo,
        "--disable-logging",  # no access line per check; Gatehouse logs its decisions itself
        *JSON_LOG,
        "--ignore-sigpipe", "--ignore-write-errors", "--disable-write-exception",
        "--die-on-term",
        "--auto-procname", "--procname-prefix-spaced", "gatehouse-check",
    ]


def tcp_ports(option: Any) -> frozenset[int]:
    """The TCP ports of a uWSGI socket option as uwsgi.opt holds it (bytes, or a list when
    given more than once); a unix socket has none."""
    specs = option if isinstance(option, list) else [option] if option else []
    ports = set()
    for spec in specs:
        text = spec.decode("utf-8", "replace") if isinstance(spec, bytes) else str(spec)
        _, sep, port = text.rpartition(":")
        if sep and port.isdigit() and not text.startswith(("/", "@")):
            ports.add(int(port))
    return frozenset(ports)


def connection_peer(fd: int, ports: frozenset[int]) -> str | None:
    """The peer address of the connection `fd` when it came in on a TCP port of the HTTP socket;
    None for any other (the uwsgi socket, a unix socket) or when it cannot be read."""
    try:
        conn = sockets.socket(fileno=fd)
    except OSError:
        return None
    try:
        if conn.family not in (sockets.AF_INET, sockets.AF_INET6) or conn.getsockname()[1] not in ports:
            return None
        return str(conn.getpeername()[0])
    except OSError:
        return None
    finally:
        conn.detach()  # the connection is uWSGI's: never closed here


def socket_peers(app: Callable[..., Iterable[bytes]], ports: frozenset[int],
                 connection_fd: Callable[[], int]) -> Callable[..., Iterable[bytes]]:
    """`app` with every request's SocketPeer set from its connection, over whatever the request's
    variables said."""
    from ..request_parsing import SOCKET_PEER, SocketPeer

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            fd = connection_fd()
        except (OSError, ValueError):
            fd = -1
        environ[SOCKET_PEER] = SocketPeer(connection_peer(fd, ports) if fd >= 0 else None)
        return app(environ, start_response)
    return application


def uwsgi_socket(http: str, given: str | None) -> str | None:
    """The uwsgi-protocol socket: the one given (`none`: no uwsgi socket at all, for a group only
    proxies speaking HTTP call), else the HTTP port + 1 on loopback, whatever GATEHOUSE_BIND says:
    a uwsgi packet names its own REMOTE_ADDR, so that socket is for an nginx on the same host."""
    if given == NO_SOCKET:
        return None
    return given or f"127.0.0.1:{int(http.rsplit(':', 1)[1]) + 1}"


def outbound_limit(configured: int, threads: int) -> int:
    """Outbound calls a uWSGI worker may have waiting at once: fewer than its threads, so one
    thread is always free for checks that need no provider (0 = no limit, with one thread)."""
    if threads <= 1:
        return configured
    return configured if 0 < configured < threads else threads - 1


def outbound_group_limit(configured: int | None, processes: int, threads: int) -> int | None:
    """Outbound calls the whole group may have waiting at once, across its workers (None: no group
    limit). With one thread per worker a check waiting on a provider holds a whole worker: by
    default at most half the workers (at least one) may, so the other half keeps answering the
    checks that need none (with one worker, that one: nothing can be kept free). With several threads, each worker keeps a free thread of its own
    (outbound_limit) and the group needs no limit unless one is configured."""
    if configured is not None:
        return configured
    return max(1, processes // 2) if threads <= 1 else None


def _exec_gunicorn(http: str | None, processes: int | None) -> int:
    """CHECK_SERVER=gunicorn: the check group under gunicorn (gevent, gunicorn.conf.py's role
    `check`), HTTP only; this process becomes gunicorn, which drains on SIGTERM itself."""
    from ..settings import child_environment

    changes: dict[str, Any] = {"role": "check"}
    if http:
        host, _, port = http.rpartition(":")
        changes.update(bind_address=host or "127.0.0.1", http_port=port)
    if processes:
        changes["workers"] = processes
    env = child_environment(changes)
    os.execve(sys.executable, [sys.executable, "-m", "gunicorn", "-c", "python:app.serving.gunicorn_conf", "app.serving.wsgi:app"], env)
    return 0  # not reached


def _term_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the launcher dies (PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """uWSGI's master and whatever is left of its workers, killed together: uWSGI runs in a session
    of its own, and a worker outliving a killed master would keep the sockets open."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # nothing left of the group
        pass
    proc.wait()


def _tell_master(fifo: str, command: bytes) -> bool:
    """One command on uWSGI's master FIFO (`q` stop gracefully, `c` chain reload); False when the
    FIFO is not there (never creates a file)."""
    try:
        master = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        os.write(master, command)
    finally:
        os.close(master)
    return True


def _reload(fifo: str) -> None:
    """SIGHUP: check the configuration as a new worker will read it, then new workers one after
    another (uWSGI's chain reload); a configuration that would be refused keeps the workers."""
    from ..named_files import load_configuration
    from ..settings import ConfigError

    try:
        load_configuration()
    except ConfigError as exc:
        _log("error", "SIGHUP: configuration refused, the workers are kept:\n  - " + "\n  - ".join(exc.problems))
        return
    _log("info", "SIGHUP: reloading the workers one by one" if _tell_master(fifo, b"c")
         else "SIGHUP: uWSGI's master FIFO is not open yet; nothing reloaded")


def _log(level: str, message: str) -> None:
    """One JSON line on stderr, in the fields of Gatehouse's own lines (app/observability.py)."""
    print(json.dumps({"time": int(time.time() * 1000), "level": level, "logger": "gatehouse.serve-check",
                      "msg": message}), file=sys.stderr, flush=True)


def serve(http: str | None, socket: str | None, processes: int | None) -> int:
    """Run the check group under uWSGI until SIGTERM/SIGINT; the exit code."""
    from ..named_files import dead_features, load_configuration
    from ..settings import GRACEFUL_STOP_SECONDS, ConfigError, child_environment

    try:
        settings, files = load_configuration()
    except ConfigError as exc:
        _log("error", "configuration refused:\n  - " + "\n  - ".join(exc.problems))
        return 2
    bind = settings.bind_address
    if settings.check_server == "gunicorn":  # gunicorn's on_starting says the warnings
        if socket:
            _log("error", "--socket is the uwsgi-protocol socket: it needs CHECK_SERVER=uwsgi")
            return 2
        return _exec_gunicorn(http, processes)
    http = http or f"{bind}:{settings.http_port}"
    socket = uwsgi_socket(http, socket or settings.check_socket)
    if socket and tcp_ports(socket) & tcp_ports(http):
        _log("error", f"the uwsgi socket ({socket}) needs a port other than the HTTP socket's ({http}): "
                      "the port tells the workers which socket a request came in on")
        return 2
    processes = processes or settings.workers or os.cpu_count() or 1
    delay = settings.delay_shutdown_seconds
    metrics_dir = metrics_dir_of(settings.metrics_dir)
    try:
        prepare_metrics_dir(metrics_dir)
    except OSError as exc:
        _log("error", f"PROMETHEUS_MULTIPROC_DIR: cannot write {metrics_dir} ({exc.strerror or exc})")
        return 2
    for line in dead_features(settings, files):  # valid, but a feature is dead: said once, at start
        _log("warning", f"configuration: {line}")
    fifo = metrics_dir + "-uwsgi.fifo"
    drain = metrics_dir + "-draining"
    group_limit = outbound_group_limit(settings.outbound_calls_per_group, processes, settings.check_threads)
    gate_dir = metrics_dir + "-outbound"  # the group's outbound slots (lock files), when limited
    shutil.rmtree(gate_dir, ignore_errors=True)
    if group_limit:
        os.makedirs(gate_dir, mode=0o700)
    for leftover in (fifo, drain):
        if os.path.exists(leftover):
            os.remove(leftover)
    args = [sys.executable, "-c", "import sys, pyuwsgi; sys.argv[0] = 'uwsgi'; sys.exit(pyuwsgi.run())",
            *uwsgi_args(http, socket, processes, fifo, settings.uwsgi_max_requests, delay + GRACEFUL_STOP_SECONDS,
                        settings.uwsgi_min_worker_lifetime, settings.check_threads,
                        harakiri=settings.worker_timeout_seconds, binary=sys.executable)]
    env = child_environment({"metrics_dir": metrics_dir, "drain_file": drain, "role": "check",
                             "outbound_calls_per_worker": outbound_limit(settings.outbound_calls_per_worker,
                                                                         settings.check_threads),
                             "outbound_calls_per_group": group_limit,
                             "outbound_gate_dir": gate_dir if group_limit else None})
    state: dict[str, Any] = {"term": None, "reload": False}

    def on_signal(signum: int, frame: Any) -> None:
        if state["term"] is None:
            state["term"] = signum

    def on_hangup(signum: int, frame: Any) -> None:
        state["reload"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # SIGHUP (`systemctl reload`, a habit from gunicorn): new workers one after another, each taking
    # checks before the next old one stops (uWSGI's chain reload); never the launcher's death.
    signal.signal(signal.SIGHUP, on_hangup)
    # uWSGI's stdio loggers write to stdout: onto stderr, where gunicorn's lines go too. Its own
    # session: a SIGTERM or Ctrl-C sent to the whole process group (systemd, a terminal) reaches this
    # launcher only, which drains first; if the launcher dies, uWSGI gets SIGTERM (--die-on-term).
    proc = subprocess.Popen(args, env=env, stdout=sys.stderr.fileno(), start_new_session=True,
                            preexec_fn=_term_with_parent)
    try:
        while proc.poll() is None and state["term"] is None:
            if state["reload"]:
                state["reload"] = False
                _reload(fifo)
            time.sleep(0.1)
        if proc.poll() is not None:  # uWSGI stopped on its own (a bad socket, no app)
            return proc.returncode or 1
        # The drain: /-/ready answers 503 from the drain file on while checks are still answered,
        # then uWSGI's master stops gracefully (in-flight requests finish) and this launcher exits 0.
        if state["term"] == signal.SIGTERM and delay > 0:
            with open(drain, "w"):
                pass
            _log("info", f"SIGTERM: not ready now, stopping in {delay}s")
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
        if proc.poll() is None:
            if not _tell_master(fifo, b"q"):  # graceful: in-flight requests finish
                proc.terminate()
            try:
                proc.wait(timeout=delay + GRACEFUL_STOP_SECONDS + 10)
            except subprocess.TimeoutExpired:
                pass
        return 0
    finally:
        _kill_group(proc)
        shutil.rmtree(metrics_dir, ignore_errors=True)
        shutil.rmtree(gate_dir, ignore_errors=True)
        for leftover in (fifo, drain):
            if os.path.exists(leftover):
                os.remove(leftover)
