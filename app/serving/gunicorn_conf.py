"""gunicorn settings for Gatehouse's two process groups of the same app (GATEHOUSE_ROLE): `check`
answers nginx's /auth subrequests; `all` (the default) serves everything else, and /auth too when
no `check` group runs beside it.

Every value comes from Gatehouse's settings (config file + environment); this file reads no
environment itself. The worker model of each group was chosen by measurement: docs/performance.md
"Worker models".
"""
import os
import signal
import shutil
import threading

from app.serving.metrics_dir import metrics_dir_of
from app.named_files import dead_features, load_configuration
from app.settings import GRACEFUL_STOP_SECONDS, ConfigError, Settings, export


def _settings():
    """Gatehouse's settings (config file + environment), read once here so that gunicorn binds the
    configured port and drains for the configured delay; None and the problems, which on_starting
    reports before anything binds, when they are refused. Importing app.settings and app.named_files
    imports neither the store clients nor prometheus_client."""
    try:
        settings, files = load_configuration()
    except ConfigError as exc:
        return None, exc.problems, []
    return settings, [], dead_features(settings, files)


SETTINGS, PROBLEMS, WARNINGS = _settings()
# Refused settings stop the start in on_starting, before any socket or worker: until then, the
# declared defaults.
_S = SETTINGS
ROLE = _S.role if _S else "all"
# gevent for the check (it never waits long on CPU, and keeps nginx's upstream connections alive), sync
# for the rest (one slow bcrypt hash would stall an event loop): docs/performance.md "Worker models".
worker_class = (_S and _S.worker_class) or ("gevent" if ROLE == "check" else "sync")
if worker_class == "gevent":
    # Before anything imports ssl, sockets or threads in the master (the app, its store and HTTP
    # clients): gevent must patch them first.
    from gevent import monkey

    monkey.patch_all()

# Metrics from every worker are aggregated from this directory (prometheus multiprocess mode).
# Exported before anything imports prometheus_client: it picks its multi-process storage at
# import, and the workers inherit that choice from the master.
metrics_dir = metrics_dir_of(_S.metrics_dir if _S else None)
export("metrics_dir", metrics_dir)
port = _S.http_port if _S else 3000
bind = f"{_S.bind_address if _S else '127.0.0.1'}:{port}"
CORES = os.cpu_count() or 1
workers = (_S and _S.workers) or (CORES if ROLE == "check" else 2 * CORES)
threads = _S.threads if _S else 1
preload_app = False  # a MongoClient must not cross a fork: every worker builds its own clients
timeout = _S.worker_timeout_seconds if _S else 30
keepalive = _S.keepalive_seconds if _S else 5
# Bounded request lines and headers; bodies are bounded by MAX_BODY_BYTES in the app. Above what
# the shipped nginx config can forward (header lines up to 40 KB, at most 160 KB of headers:
# large_client_header_buffers 4 40k, for a 32 KB bearer token), so nginx refuses an oversized
# request itself with its own 4xx and every request it accepts reaches the check, whose answer is
# 204/401/403. At gunicorn's defaults (8,190 bytes, 100 lines) a 10 KB cookie or 110 header lines
# made the check answer 431, which nginx turns into a 500. The request line to the check is short
# behind nginx (`GET /auth`: the original URI travels in X-Original-URI, a header line); 8,190 is
# gunicorn's largest limit, so behind Envoy (whose check request carries the original path) a
# longer URI is a 400 under gunicorn and passes under uWSGI (docs/proxies.md "Limits").
limit_request_line = 8190
limit_request_fields = 32768  # gunicorn's maximum; Debian's nginx takes at most 1,000 header lines (max_headers)
limit_request_field_size = 131072  # 128 KiB per header line


def _empty_error(sock, status_int, reason, mesg):
    """gunicorn's own refusals (a malformed request, a header over the limits) with an empty
    body, like every other answer of the check (nginx keeps its upstream connection only without
    one): gunicorn writes them itself, before the app, through this one function."""
    from gunicorn import util

    head = f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    util.write_nonblock(sock, head.encode("latin-1"))


if ROLE == "check":
    from gunicorn import util as _gunicorn_util

    _gunicorn_util.write_error = _empty_error

# DELAY_SHUTDOWN_SECONDS: /-/ready answers 503 for that long after SIGTERM while requests are
# still served (so load balancers stop sending), then in-flight requests finish. The graceful
# timeout is always longer than the drain, so no worker is killed before it ends.
delay_shutdown = _S.delay_shutdown_seconds if _S else 10
graceful_timeout = delay_shutdown + GRACEFUL_STOP_SECONDS
accesslog = None  # Gatehouse writes its own JSON lines (decisions, requests) with the request id
# ... and gunicorn none (which logconfig_dict alone would turn on); if an operator asks for them, its
# access lines carry no query string nor credential (app/serving/gunicorn_logging.py).
logger_class = "app.serving.gunicorn_logging.AccessLogger"
control_socket_disable = True  # no admin socket in ~/.gunicorn; signals are enough
errorlog = "-"
# gunicorn's own lines (boot, worker exits, errors) as JSON on stderr, like Gatehouse's.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "app.observability.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "loggers": {"gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
                "gunicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}



ROUTES_SNAPSHOT = metrics_dir + "-routes.json"
# The operator's route file, which SIGHUP validates and snapshots again (on_starting makes it the
# absolute path of ROUTES_FILE).
WATCHED = {"source": _S.routes_watch_file if _S else None}


def _snapshot_routes(source):
    """Workers load the last route file the master validated (ROUTES_FILE -> the snapshot)
    and watch the operator's file for changes (ROUTES_WATCH_FILE)."""
    shutil.copyfile(source, ROUTES_SNAPSHOT + ".tmp")
    os.replace(ROUTES_SNAPSHOT + ".tmp", ROUTES_SNAPSHOT)
    export("routes_file", ROUTES_SNAPSHOT)
    export("routes_watch_file", source)
    WATCHED["source"] = source


def on_starting(server):
    """Refuse to start on a bad configuration, before any worker forks (one line per problem)."""
    if PROBLEMS:
        server.log.error("configuration refused:\n  - %s", "\n  - ".join(PROBLEMS))
        raise SystemExit(2)
    for line in WARNINGS:  # valid, but a feature is dead: said once, at start
        server.log.warning("configuration: %s", line)
    settings: Settings = SETTINGS
    step = ("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
    try:
        from app.serving.metrics_dir import prepare_metrics_dir

        prepare_metrics_dir(metrics_dir)
        if settings.routes_file:
            step = ("PROMETHEUS_MULTIPROC_DIR (the validated copy of ROUTES_FILE lives beside it)", ROUTES_SNAPSHOT)
            _snapshot_routes(os.path.abspath(settings.routes_file))
    except OSError as exc:
        # One line an operator can act on (a read-only or missing directory), not a traceback.
        server.log.error("%s: cannot write %s (%s)", step[0], step[1], exc.strerror or exc)
        raise SystemExit(2) from None


def on_reload(server):
    """SIGHUP: gunicorn restarts the workers. Validate the operator's route file first; when it
    is invalid, log why and let the new workers keep the previous table."""
    source = WATCHED["source"]
    if not source:
        return
    try:
        load_configuration(overrides={"routes_file": source})
    except ConfigError as exc:
        server.log.error("route file refused on SIGHUP, keeping the previous table:\n  - %s",
                         "\n  - ".join(exc.problems))
        return
    _snapshot_routes(source)


def child_exit(server, worker):
    # Imported here, after PROMETHEUS_MULTIPROC_DIR is set, so workers get multiprocess values.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, metrics_dir)


def on_exit(server):
    shutil.rmtree(metrics_dir, ignore_errors=True)
    if os.path.exists(ROUTES_SNAPSHOT):
        os.remove(ROUTES_SNAPSHOT)


def post_worker_init(worker):
    """Replace the worker's SIGTERM handling: go not-ready first, stop after the delay."""
    services = getattr(worker.wsgi, "extensions", {}).get("gatehouse")
    if services is None:  # another app under these settings (the benchmark's floor)
        return
    lifecycle = services.lifecycle
    delay = services.settings.delay_shutdown_seconds

    def stop_now():
        worker.alive = False
        os.write(worker.PIPE[1], b"1")  # wake the worker's select() so it exits promptly

    def on_term(signum, frame):
        if lifecycle.shutting_down.is_set():
            return
        lifecycle.shutting_down.set()
        worker.log.info("SIGTERM: not ready now, stopping in %ss", delay)
        if worker_class == "gevent":
            # A signal handler runs in gevent's hub, where starting a thread would block
            # (BlockingSwitchOutError): schedule the stop on the event loop instead. The worker's
            # loop looks at `alive` every second, then lets in-flight requests finish.
            import gevent

            gevent.spawn_later(delay, stop_now)
            return
        timer = threading.Timer(delay, stop_now)
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, on_term)
    signal.siginterrupt(signal.SIGTERM, False)
    # SIGHUP sent to a worker itself: re-check the route file on the next request.
    routes = services.route_watcher
    if routes is not None:
        signal.signal(signal.SIGHUP, lambda signum, frame: routes.force.set())
