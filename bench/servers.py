"""The servers a /auth process group can run under, started the same way for the benchmark:
gunicorn gevent (HTTP; the reference row), uWSGI (nginx `uwsgi_pass`; what `gatehouse serve-check`
runs, with and without threads per worker), granian (HTTP, Rust) and bjoern (HTTP, C, libev).

Each starts `workers` processes of one WSGI app (`wsgi:app`, the Gatehouse check, or
`bench.floor_app:bare`, a do-nothing callable) on loopback and answers (address for nginx,
protocol for `render(check_protocol=...)`, pid whose children are the workers).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# (label, server, threads per worker, workers per core); the shipped default is uWSGI with
# DEFAULT_CHECK_THREADS, one worker per core, nginx's uwsgi_pass to a unix socket (as `gatehouse dev`
# and docs/production.md run it; `uwsgi-tcp`: the same over loopback TCP).
CANDIDATES = [("gunicorn gevent", "gunicorn", 1, 1), ("uWSGI uwsgi_pass", "uwsgi", 1, 1),
              ("uWSGI uwsgi_pass over TCP", "uwsgi-tcp", 1, 1),
              ("uWSGI uwsgi_pass 2 workers per core", "uwsgi", 1, 2),
              ("uWSGI uwsgi_pass 4 threads", "uwsgi", 4, 1), ("uWSGI uwsgi_pass gevent", "uwsgi-gevent", 1, 1),
              ("granian", "granian", 1, 1), ("granian 4 threads", "granian", 4, 1), ("bjoern", "bjoern", 1, 1)]


def bjoern_main() -> None:
    """`python bench/servers.py bjoern MODULE:APP PORT WORKERS`: pre-forked bjoern workers sharing
    one listening port (SO_REUSEPORT); each imports the app after the fork, as --lazy-apps does."""
    import importlib
    import signal

    import bjoern  # type: ignore[import-not-found]

    target, port, workers = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            sys.path.insert(0, str(ROOT))
            module, name = target.split(":")
            bjoern.run(getattr(importlib.import_module(module), name), "127.0.0.1", port, reuse_port=True)
            os._exit(0)
        children.append(pid)

    def stop(signum: int, frame: Any) -> None:
        for child in children:
            os.kill(child, signal.SIGTERM)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        os.waitpid(child, 0)


def gevent_server(server: str) -> bool:
    return server.endswith("gevent")


def start(spawn: Callable[..., subprocess.Popen[Any]], server: str, app: str, port: int, workers: int,
          threads: int, env: dict[str, str], metrics: Path) -> tuple[str, str, int]:
    """Start one group; (nginx address, protocol, pid of the workers' parent)."""
    run_env = {**env, "HTTP_PORT": str(port), "GUNICORN_WORKERS": str(workers), "GATEHOUSE_ROLE": "check",
               "PROMETHEUS_MULTIPROC_DIR": str(metrics), "CHECK_THREADS": str(threads)}
    metrics.mkdir(parents=True, exist_ok=True)
    if server == "gunicorn":
        proc = spawn([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app], cwd=ROOT,
                     env={**run_env, "GUNICORN_WORKER_CLASS": "gevent"})
        return f"127.0.0.1:{port}", "http", proc.pid
    if server in ("uwsgi", "uwsgi-gevent", "uwsgi-tcp"):
        from app.serving.uwsgi_check import outbound_group_limit, outbound_limit, uwsgi_args
        # what `gatehouse serve-check` gives its workers: one thread always free of provider waits,
        # and with one thread per worker, half the workers free of them (the group's budget)
        run_env["OUTBOUND_CALLS_PER_WORKER"] = str(outbound_limit(0, threads))
        group = outbound_group_limit(None, workers, threads)
        if group and not gevent_server(server):
            gate_dir = Path(str(metrics) + "-outbound")
            gate_dir.mkdir(parents=True, exist_ok=True)
            run_env.update(OUTBOUND_CALLS_PER_GROUP=str(group), GATEHOUSE_OUTBOUND_GATE_DIR=str(gate_dir))
        module = "app.serving.uwsgi_app:application" if app == "wsgi:app" else app
        socket = f"127.0.0.1:{port + 1}" if server == "uwsgi-tcp" else str(metrics) + ".sock"
        args = uwsgi_args(f"127.0.0.1:{port}", socket, workers, str(metrics) + ".fifo", 1_000_000,
                          5, threads=threads, module=module, gevent=100 if server == "uwsgi-gevent" else 0)
        proc = spawn([sys.executable, "-c", "import sys, pyuwsgi; sys.argv[0] = 'uwsgi'; sys.exit(pyuwsgi.run())",
                      *args], cwd=ROOT, env=run_env)
        return (socket if server == "uwsgi-tcp" else f"unix:{socket}"), "uwsgi", proc.pid
    if server == "granian":
        proc = spawn([str(BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                      "--workers", str(workers), "--blocking-threads", str(threads), "--no-access-log",
                      "--log-level", "error", app], cwd=ROOT, env=run_env)
        return f"127.0.0.1:{port}", "http", proc.pid
    if server == "bjoern":
        proc = spawn([sys.executable, str(Path(__file__)), "bjoern", app, str(port), str(workers)], cwd=ROOT,
                     env=run_env)
        return f"127.0.0.1:{port}", "http", proc.pid
    raise ValueError(f"unknown server {server}")


if __name__ == "__main__" and sys.argv[1:2] == ["bjoern"]:
    bjoern_main()
