"""`gatehouse serve-check`: the /auth process group, under uWSGI by default (CHECK_SERVER=gunicorn
runs it under gunicorn instead: HTTP only, gunicorn.conf.py's role `check`).

nginx talks to it over the uwsgi protocol (`uwsgi_pass`, `gatehouse nginx-config`); /-/ready,
/-/healthz and /-/metrics — and the check itself, for proxies that only speak HTTP (ingress-nginx,
Traefik, Caddy, Envoy) — are on an HTTP socket of the same workers, parsed in C by uWSGI too. What
gunicorn.conf.py gives the check group, and how it is kept here:

* workers: one process per core (GUNICORN_WORKERS overrides, as for gunicorn; every value here is a
  setting read through app/settings.py), `--master`,
  `--lazy-apps` (each worker builds its own clients after the fork), `--enable-threads`
  (Gatehouse's background threads: route-file watch, revocation mirror);
* drain on SIGTERM: this launcher is uWSGI's parent. On SIGTERM it creates the drain file
  (GATEHOUSE_DRAIN_FILE for the workers; /-/ready answers 503 from then on, checks are still answered), waits DELAY_SHUTDOWN_SECONDS,
  then asks uWSGI's master for a graceful shutdown (`q` on its master FIFO: in-flight requests
  finish, bounded by `--worker-reload-mercy`), and exits 0;
* worker recycling: `--max-requests` (UWSGI_MAX_REQUESTS, default 100000), like gunicorn's
  max_requests, once a worker has lived `--min-worker-lifetime` seconds (UWSGI_MIN_WORKER_LIFETIME,
  default 10, uWSGI's own);
* Prometheus: PROMETHEUS_MULTIPROC_DIR emptied and checked writable before start, removed at exit;
  dead workers' live gauges are marked by the next worker (app/uwsgi_app.py);
* logs: no per-request access line (Gatehouse writes its own JSON decision/request lines, as under
  gunicorn with accesslog None); uWSGI's own lines (boot, worker respawn, harakiri) go through
  `--log-encoder json` as one JSON object per line on stderr;
* header limits: `--buffer-size 65535`, the uwsgi protocol's maximum (a packet's size is 16 bits;
  nginx takes header lines up to 40 KB with the shipped `large_client_header_buffers 4 40k`, for
  a 32 KB bearer token), and `--max-vars` for every header line that fits in it (uWSGI's default
  takes about 120; nginx sends up to 1,000); a request whose headers do not fit in one packet
  nginx answers 431 itself, and over the HTTP socket uWSGI closes it (docs/proxies.md "Limits");
* a check that waits on a slow network call: each worker runs CHECK_THREADS threads (4), and at
  most CHECK_THREADS - 1 of them may wait on the network at once (OUTBOUND_CALLS_PER_WORKER; past
  it a call fails at once with 503), so a hung provider never takes the thread that answers the
  checks that need none. Gatehouse's own outbound timeouts bound each wait (OUTBOUND_TIMEOUT_SECONDS
  for JWKS and introspection, USERINFO_TIMEOUT_SECONDS; 5 s by default); `--harakiri`
  (GUNICORN_TIMEOUT, 30 s, gunicorn's `timeout`) is only the last resort that kills a worker stuck
  past them.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

from .metrics_dir import metrics_dir_of, prepare_metrics_dir

BUFFER_SIZE = 65535
# Header lines the check group takes: as many as fit in BUFFER_SIZE. uWSGI keeps each request
# variable (an `HTTP_*` header) as two vector entries, key and value, in a vector of 4 × max-vars
# entries; its default (64, so 128 variables) refuses a request of some 120 header lines by closing
# the connection, which nginx answers 500. The smallest variable is 10 bytes (the uwsgi protocol's two
# 2-byte sizes, `HTTP_` and a one-letter name), so BUFFER_SIZE holds at most 6,554 of them (the
# vector costs some 200 KB per thread; nginx itself sends at most 1,000 header lines).
MAX_VARS = (BUFFER_SIZE // 10 + 1) // 2 + 1
# uWSGI's own lines (boot, respawns, harakiri) as JSON through the master's logger; Gatehouse's lines
# (already JSON objects, starting with `{`) are routed to a second logger that writes them as they are.
JSON_LOG = ["--log-master", "--logger", "gatehouse stdio", "--logger", "uwsgi stdio",
            "--log-route", "gatehouse ^\\{", "--log-route", "uwsgi ^[^{]",
            "--log-encoder", 'json:uwsgi {"time":${millis},"level":"info","logger":"uwsgi","msg":"${msg}"}',
            "--log-encoder", "nl:uwsgi"]


def uwsgi_args(http: str, socket: str, processes: int, fifo: str, max_requests: int,
               mercy: int, min_lifetime: int = 10, threads: int = 1,
               module: str = "app.uwsgi_app:application", gevent: int = 0, harakiri: int = 30) -> list[str]:
    """The uWSGI command line of the check group (pyuwsgi's `uwsgi`)."""
    return [
        "--master", "--lazy-apps", "--enable-threads", "--single-interpreter", "--need-app", "--strict",
        "--processes", str(processes),
        # threads per worker: a check waiting on a slow provider holds one thread, not the process;
        # the thunder lock lets one thread at a time accept, so a new connection wakes one thread
        *(["--threads", str(threads), "--thunder-lock"] if threads > 1 and not gevent else []),
        *(["--gevent", str(gevent), "--gevent-early-monkey-patch"] if gevent else []),
        "--socket", socket,  # uwsgi protocol, for nginx's uwsgi_pass
        "--http-socket", http,  # /-/ready, /-/healthz, /-/metrics
        "--module", module,
        "--buffer-size", str(BUFFER_SIZE), "--max-vars", str(MAX_VARS),
        "--max-requests", str(max_requests),
        # A worker is recycled after max_requests only once it has lived this long (uWSGI's default).
        "--min-worker-lifetime", str(min_lifetime),
        "--harakiri", str(harakiri),
        "--worker-reload-mercy", str(mercy), "--reload-mercy", str(mercy),
        "--master-fifo", fifo,
        "--disable-logging",  # no access line per check; Gatehouse logs its decisions itself
        *JSON_LOG,
        "--ignore-sigpipe", "--ignore-write-errors", "--disable-write-exception",
        "--die-on-term",
        "--auto-procname", "--procname-prefix-spaced", "gatehouse-check",
    ]


def outbound_limit(configured: int, threads: int) -> int:
    """Outbound calls a uWSGI worker may have waiting at once: fewer than its threads, so one
    thread is always free for checks that need no provider (0 = no limit, with one thread)."""
    if threads <= 1:
        return configured
    return configured if 0 < configured < threads else threads - 1


def _exec_gunicorn(http: str | None, processes: int | None) -> int:
    """CHECK_SERVER=gunicorn: the check group under gunicorn (gevent, gunicorn.conf.py's role
    `check`), HTTP only; this process becomes gunicorn, which drains on SIGTERM itself."""
    from .settings import child_environment

    changes: dict[str, Any] = {"role": "check"}
    if http:
        host, _, port = http.rpartition(":")
        changes.update(bind_address=host or "127.0.0.1", http_port=port)
    if processes:
        changes["workers"] = processes
    env = child_environment(changes)
    os.execve(sys.executable, [sys.executable, "-m", "gunicorn", "-c", "python:app.gunicorn_conf", "app.wsgi:app"], env)
    return 0  # not reached


def _term_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the launcher dies (PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _log(level: str, message: str) -> None:
    """One JSON line on stderr, in the fields of Gatehouse's own lines (app/observability.py)."""
    print(json.dumps({"time": int(time.time() * 1000), "level": level, "logger": "gatehouse.serve-check",
                      "msg": message}), file=sys.stderr, flush=True)


def serve(http: str | None, socket: str | None, processes: int | None) -> int:
    """Run the check group under uWSGI until SIGTERM/SIGINT; the exit code."""
    from .named_files import load_configuration
    from .settings import ConfigError, child_environment

    try:
        settings = load_configuration()[0]
    except ConfigError as exc:
        _log("error", "configuration refused:\n  - " + "\n  - ".join(exc.problems))
        return 2
    bind = settings.bind_address
    if settings.check_server == "gunicorn":
        if socket:
            _log("error", "--socket is the uwsgi-protocol socket: it needs CHECK_SERVER=uwsgi")
            return 2
        return _exec_gunicorn(http, processes)
    http = http or f"{bind}:{settings.http_port}"
    socket = socket or settings.check_socket or f"{bind}:{int(http.rsplit(':', 1)[1]) + 1}"
    processes = processes or settings.workers or os.cpu_count() or 1
    delay = settings.delay_shutdown_seconds
    metrics_dir = metrics_dir_of(settings.metrics_dir)
    try:
        prepare_metrics_dir(metrics_dir)
    except OSError as exc:
        _log("error", f"PROMETHEUS_MULTIPROC_DIR: cannot write {metrics_dir} ({exc.strerror or exc})")
        return 2
    fifo = metrics_dir + "-uwsgi.fifo"
    drain = metrics_dir + "-draining"
    for leftover in (fifo, drain):
        if os.path.exists(leftover):
            os.remove(leftover)
    args = [sys.executable, "-c", "import sys, pyuwsgi; sys.argv[0] = 'uwsgi'; sys.exit(pyuwsgi.run())",
            *uwsgi_args(http, socket, processes, fifo, settings.uwsgi_max_requests, delay + 30,
                        settings.uwsgi_min_worker_lifetime, settings.check_threads,
                        harakiri=settings.worker_timeout_seconds)]
    env = child_environment({"metrics_dir": metrics_dir, "drain_file": drain, "role": "check",
                             "outbound_calls_per_worker": outbound_limit(settings.outbound_calls_per_worker,
                                                                         settings.check_threads)})
    state: dict[str, Any] = {"term": None}

    def on_signal(signum: int, frame: Any) -> None:
        if state["term"] is None:
            state["term"] = signum

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # uWSGI's stdio loggers write to stdout: onto stderr, where gunicorn's lines go too. Its own
    # session: a SIGTERM or Ctrl-C sent to the whole process group (systemd, a terminal) reaches this
    # launcher only, which drains first; if the launcher dies, uWSGI gets SIGTERM (--die-on-term).
    proc = subprocess.Popen(args, env=env, stdout=sys.stderr.fileno(), start_new_session=True,
                            preexec_fn=_term_with_parent)
    try:
        while proc.poll() is None and state["term"] is None:
            time.sleep(0.1)
        if proc.poll() is not None:  # uWSGI stopped on its own (a bad socket, no app)
            return proc.returncode or 1
        if state["term"] == signal.SIGTERM and delay > 0:
            with open(drain, "w"):
                pass
            _log("info", f"SIGTERM: not ready now, stopping in {delay}s")
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
        if proc.poll() is None:
            try:
                master = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # never creates a file
                try:
                    os.write(master, b"q")  # graceful: in-flight requests finish
                finally:
                    os.close(master)
            except OSError:
                proc.terminate()
            try:
                proc.wait(timeout=delay + 40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        for leftover in (fifo, drain):
            if os.path.exists(leftover):
                os.remove(leftover)
