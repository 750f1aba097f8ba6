"""The WSGI entry of the /auth group under uWSGI (`gatehouse serve-check`, app/serving/uwsgi_check.py).

Loaded in each worker after the fork (`--lazy-apps`: a MongoClient must not cross a fork). It does
what app/serving/gunicorn_conf.py's hooks do under gunicorn, as uWSGI's master has no Python hook:
it marks dead workers' Prometheus gauges, and answers /-/ready 503 once the drain file exists. Each
request gets the peer of its own connection (app/request_parsing.py SocketPeer): a uwsgi packet's REMOTE_ADDR
is whatever its sender wrote (docs/proxies.md "What `REMOTE_ADDR` means behind each server").
"""
from __future__ import annotations

import os
import re
from typing import Any, Callable, Iterable

LIVE_FILE = re.compile(r"^gauge_live\w*_(\d+)\.db$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_dead_workers(metrics_dir: str | None) -> list[int]:
    """prometheus_client's mark_process_dead for every pid of the directory no longer running."""
    if not metrics_dir or not os.path.isdir(metrics_dir):
        return []
    from prometheus_client import multiprocess

    dead = sorted({int(m[1]) for name in os.listdir(metrics_dir) if (m := LIVE_FILE.match(name))
                   and not _alive(int(m[1]))})
    for pid in dead:
        multiprocess.mark_process_dead(pid, metrics_dir)
    return dead


def draining(app: Callable[..., Iterable[bytes]], lifecycle: Any, drain_file: str) -> Callable[..., Iterable[bytes]]:
    """`app` with /-/ready answering 503 once `drain_file` exists."""
    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/-/ready" and not lifecycle.shutting_down.is_set() \
                and os.path.exists(drain_file):
            lifecycle.shutting_down.set()
        return app(environ, start_response)
    return application


def load() -> Callable[..., Iterable[bytes]]:
    import uwsgi  # type: ignore[import-not-found]  # the module of uWSGI's Python plugin, in its workers only

    from .uwsgi_check import socket_peers, tcp_ports
    from .wsgi import app as flask_app

    services = flask_app.extensions["gatehouse"]
    mark_dead_workers(services.settings.metrics_dir)
    drain_file = services.settings.drain_file
    application = flask_app if not drain_file else draining(flask_app, services.lifecycle, drain_file)
    if not services.settings.trusted_proxy_cidrs:
        return application  # no address is ever judged: no check pays for reading its peer
    return socket_peers(application, tcp_ports(uwsgi.opt.get("http-socket")), uwsgi.connection_fd)


application = load()
