"""The WSGI entry of the /auth group under uWSGI (`gatehouse serve-check`, app/serving/uwsgi_check.py).

Loaded once per worker, after the fork (`--lazy-apps`): each worker builds its own clients, as
under gunicorn (a MongoClient must not cross a fork). Two things gunicorn.conf.py does in its
hooks are done here instead:

* dead workers' Prometheus live gauges are marked (a recycled or killed worker's pid): uWSGI has
  no Python hook in the master, so each new worker marks the ones whose process is gone;
* the drain: the launcher creates the drain file on SIGTERM; from then on /-/ready answers 503
  while checks are still answered. Only /-/ready looks at the file (one stat per probe, none per
  check).

And one thing gunicorn needs no help for: the check's socket peer. Under gunicorn REMOTE_ADDR is
the peer of the connection; under uWSGI a request on the uwsgi socket carries the REMOTE_ADDR its
sender wrote, so each request is given the peer read from its connection (app/request_parsing.py SocketPeer).
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
