"""No secret in any log line (docs/security.md, its paragraph on logs). The whole `gatehouse dev`
stack — nginx with the shipped config, the app group under gunicorn, the /auth group under uWSGI —
goes through a web login with a refresh and a logout, a BFF login, and machine tokens with the
client secret in the body, in the query string and in a body nginx refuses as too large, client
assertions in the body and in the query string, introspection and tokens on protected routes.
Every code, state, secret, token, cookie and assertion the run saw is then looked for in every log
file the stack wrote but the development provider's own (a test double's log): none is there."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import requests

from app.core.tokens import ASSERTION_TYPE
from app.observability import credential_name
from tests.e2e.conftest import GATEHOUSE, ROOT, dev_ports, http, start_dev, start_uwsgi_check, stop
from tests.support.servers import wait_until

# Header and field names whose values are credentials although app/observability.py's name rule
# (which the collector reuses) does not say so.
CREDENTIAL_FIELDS = {"cookie", "set-cookie"}
SHORTEST_SECRET = 12  # anything shorter is a status word, a scope, a token type


def random_looking(value: str) -> bool:
    """A generated value (digits or mixed case), not a word such as `client_secret_basic`."""
    return len(value) >= SHORTEST_SECRET and (any(c.isdigit() for c in value) or value.lower() != value != value.upper())


class LoopbackBrowser(requests.Session):
    """Sends Secure (`__Host-`, `__Secure-`) cookies back to http://127.0.0.1, as Chromium does on
    loopback (requests sends them over https only)."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        answer = super().request(*args, **kwargs)
        for cookie in self.cookies:
            cookie.secure = False
        return answer


class Seen:
    """Every credential the run saw, with where it was seen."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def add(self, where: str, value: Any) -> None:
        """A credential, and the credentials inside a header value (`Bearer <token>`, `sid=<jwt>; ...`)."""
        if not isinstance(value, str):
            return
        parts = [value, value.partition(" ")[2] if value.startswith(("Bearer ", "Basic ")) else ""]
        if "=" in value:
            parts += [item.partition("=")[2] for item in re.split(r";\s*", value)]
        for part in parts:
            if random_looking(part):
                self.values.setdefault(part, where)

    def url(self, where: str, url: str) -> None:
        for name, values in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).items():
            if credential_name(name):
                for value in values:
                    self.add(f"{where}: {name}", value)

    def document(self, where: str, doc: Any) -> None:
        if isinstance(doc, dict):
            for name, value in doc.items():
                if isinstance(value, str) and (credential_name(name) or name.lower() in CREDENTIAL_FIELDS):
                    self.add(f"{where}: {name}", value)
                else:
                    self.document(where, value)
        elif isinstance(doc, list):
            for value in doc:
                self.document(where, value)

    def response(self, where: str, answer: requests.Response) -> requests.Response:
        for cookie in answer.cookies:
            self.add(f"{where}: cookie {cookie.name}", cookie.value)
        if "Location" in answer.headers:
            self.url(where, answer.headers["Location"])
        for name, value in re.findall(r'name="(\w+)" value="([^"]*)"', answer.text):  # the callback's form
            if credential_name(name):
                self.add(f"{where}: form {name}", value)
        if answer.headers.get("Content-Type", "").startswith("application/json"):
            self.document(where, answer.json())
        return answer


def at_the_provider(seen: Seen, session: LoopbackBrowser, authorize_url: str, sub: str) -> str:
    """The development provider's login page: pick the user; the callback URL it sends back to."""
    seen.url("authorization request", authorize_url)
    picked = seen.response("provider", session.post(authorize_url, data={"sub": sub}, allow_redirects=False,
                                                    timeout=10))
    assert picked.status_code == 302, picked.text
    return picked.headers["Location"]


def web_login(seen: Seen, site: str) -> None:
    """The Mia-style browser login (alice), the protected page, /refreshtoken, logout."""
    browser = LoopbackBrowser()
    first = browser.get(f"{site}/orders/7?tab=2", headers={"Accept": "text/html"}, allow_redirects=False, timeout=10)
    assert first.status_code == 302
    page = browser.get(urllib.parse.urljoin(site, first.headers["Location"]), timeout=10).text
    link = re.search(r'href="(/authorize\?[^"]+)"', page).group(1).replace("&amp;", "&")
    to_provider = seen.response("web login", browser.get(site + link, allow_redirects=False, timeout=10))
    callback = at_the_provider(seen, browser, to_provider.headers["Location"], "alice")
    assert callback.startswith(f"{site}/web-login/oauth/callback?code=")
    form = seen.response("web login callback", browser.get(callback, timeout=10))
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form.text))
    done = seen.response("web login", browser.post(f"{site}/oauth/token", data=fields, allow_redirects=False,
                                                   timeout=10))
    assert done.status_code == 303, done.text
    shown = seen.response("upstream", browser.get(f"{site}/orders/7?tab=2", headers={"Accept": "application/json"},
                                                  timeout=10))
    assert shown.status_code == 200 and shown.json()["headers"]["miausergroups"] == "admin"
    refreshed = seen.response("refresh", browser.post(f"{site}/refreshtoken", timeout=10))
    assert refreshed.status_code == 200, refreshed.text
    assert browser.get(f"{site}/orders/8", headers={"Accept": "application/json"}, timeout=10).status_code == 200
    out = seen.response("logout", browser.get(f"{site}/logout?redirect=/", allow_redirects=False, timeout=10))
    assert out.status_code in (302, 303) and "id_token_hint=" in out.headers["Location"]


def bff_login(seen: Seen, site: str) -> None:
    """The BFF's login (bob) for the demo SPA, an API call with the provider's token forwarded."""
    browser = LoopbackBrowser()
    start = seen.response("bff login", browser.get(f"{site}/bff/login?redirect=/spa/", allow_redirects=False,
                                                   timeout=10))
    assert start.status_code == 302, start.text
    callback = at_the_provider(seen, browser, start.headers["Location"], "bob")
    assert callback.startswith(f"{site}/bff/oauth/callback?code=")
    landed = seen.response("bff callback", browser.get(callback, allow_redirects=False, timeout=10))
    assert any(c.name == "__Host-gatehouse" for c in landed.cookies), landed.text
    api = seen.response("bff api", browser.get(f"{site}/api/whoami", headers={"Accept": "application/json"},
                                               timeout=10))
    assert api.status_code == 200 and api.json()["sub"] == "bob", api.text
    assert browser.get(f"{site}/orders/1", headers={"Accept": "application/json"}, timeout=10).status_code == 200
    assert browser.get(f"{site}/bff/session", timeout=10).status_code == 200


def assertion(var: Path, client_id: str, audience: str) -> str:
    return subprocess.run([GATEHOUSE, "assertion", "--client-id", client_id, "--key", str(var / "demo-client-key.pem"),
                           "--audience", audience], cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


def machine_tokens(seen: Seen, site: str, base: str, check: str, var: Path) -> None:
    """Clients and tokens as the README's curl lines use them, plus the mistakes clients make."""
    admin = (var / "admin-token").read_text().strip()
    seen.add("admin token", admin)
    admin_headers = {"Authorization": f"Bearer {admin}"}
    client = seen.response("register", requests.post(
        f"{base}/register", headers=admin_headers, timeout=10,
        json={"client_name": "logs", "scope": "orders:read", "permissions": ["orders"]})).json()
    client_id, secret = client["client_id"], client["client_secret"]
    token_url = f"{site}/oauth/token"
    grant = {"grant_type": "client_credentials"}
    basic = seen.response("basic", requests.post(token_url, data=grant, auth=(client_id, secret), timeout=30))
    assert basic.status_code == 200, basic.text
    body = seen.response("post", requests.post(token_url, data={**grant, "client_id": client_id,
                                                                 "client_secret": secret}, timeout=30))
    assert body.status_code == 200, body.text
    # the secret in the query string, through nginx and straight to the app group
    for url in (token_url, f"{base}/oauth/token"):
        seen.response("query", requests.post(url, params={**grant, "client_id": client_id, "client_secret": secret},
                                             timeout=30))
    # ... and with a body nginx refuses (413): nginx's own error line names the request
    too_large = requests.post(token_url, params={"client_id": client_id, "client_secret": secret},
                              data=b"x" * (1024 * 1024 + 1), timeout=30)
    assert too_large.status_code == 413

    public_key = (var / "demo-client-key.pem.pub").read_text()
    jwt_client = seen.response("register", requests.post(
        f"{base}/register", headers=admin_headers, timeout=10,
        json={"client_name": "logs-jwt", "token_endpoint_auth_method": "private_key_jwt", "scope": "orders:read",
              "public_key": public_key})).json()["client_id"]
    for where in ("body", "query"):
        signed = assertion(var, jwt_client, f"{base}/oauth/token")
        seen.add(f"assertion in the {where}", signed)
        form = {**grant, "client_assertion_type": ASSERTION_TYPE, "client_assertion": signed}
        answer = seen.response(f"assertion in the {where}", requests.post(
            token_url, timeout=30, **({"data": form} if where == "body" else {"params": form})))
        assert where == "query" or answer.status_code == 200, answer.text

    token = basic.json()["access_token"]
    for where in ("data", "params"):
        seen.response("introspect", requests.post(f"{site}/oauth/introspect", auth=(client_id, secret),
                                                  timeout=30, **{where: {"token": token}}))
    allowed = requests.get(f"{site}/orders/42", headers={"Authorization": f"Bearer {token}",
                                                         "Accept": "application/json"}, timeout=10)
    assert allowed.status_code == 200
    # a token in the query string: the check refuses it, and its decision line names the URI
    other = body.json()["access_token"]
    assert requests.get(f"{site}/orders/42", params={"access_token": other}, headers={"Accept": "application/json"},
                        timeout=10).status_code == 401
    # ... and a browser sent to the login page with it in the URI to return to
    navigated = requests.get(f"{site}/orders/9", params={"access_token": other}, headers={"Accept": "text/html"},
                             allow_redirects=False, timeout=10)
    assert navigated.status_code == 302
    login_page = requests.get(urllib.parse.urljoin(site, navigated.headers["Location"]), timeout=10)
    assert login_page.status_code == 200 and "/authorize?" in login_page.text
    # the /auth group's HTTP socket, as the HTTP-only proxies call it, the original URI in the request target
    direct = requests.get(f"{check}/auth", params={"access_token": other},
                          headers={"X-Original-URI": f"/orders/42?access_token={other}", "X-Original-Method": "GET",
                                   "Authorization": f"Bearer {token}", "Cookie": f"sid={other}"}, timeout=10)
    assert direct.status_code in (204, 401, 403)
    seen.response("revoke", requests.post(f"{site}/oauth/revoke", data={"token": token}, auth=(client_id, secret),
                                          timeout=30))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Seen]:
    """One `gatehouse dev` stack through everything above, stopped (so every buffer is written)."""
    work = tmp_path_factory.mktemp("log-secrets")
    var = work / "var"
    ports = dev_ports()
    site, base, check = (f"http://127.0.0.1:{ports[i]}" for i in (4, 0, 6))
    proc, _ = start_dev(var, ports, work / "dev.stderr")
    seen = Seen()
    try:
        web_login(seen, site)
        bff_login(seen, site)
        machine_tokens(seen, site, base, check, var)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    return var, seen


def stack_logs(var: Path) -> list[Path]:
    """Every log file the stack wrote, but the development provider's."""
    return sorted(p for p in var.rglob("*.log") if p.name != "provider.log")


def test_no_secret_the_run_saw_is_in_any_log(run):
    var, seen = run
    kinds = " ".join(seen.values.values())
    for kind in ("code", "state", "client_secret", "access_token", "refresh", "id_token_hint", "cookie sid",
                 "cookie __Host-gatehouse", "assertion in the body", "assertion in the query", "admin token"):
        assert kind in kinds, f"the run saw no {kind}: {sorted(set(seen.values.values()))}"
    logs = stack_logs(var)
    names = {str(p.relative_to(var)) for p in logs}
    assert {"gatehouse.log", "gatehouse-check.log", "nginx.log", "nginx/error.log"} <= names
    found = []
    for log in logs:
        text = log.read_text(errors="replace")
        for value, where in seen.values.items():
            for form in {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}:
                at = text.find(form)
                if at >= 0:
                    line = text[text.rfind("\n", 0, at) + 1:text.find("\n", at)]
                    found.append(f"{log.relative_to(var)}: {where}: {line[:400]}")
                    break
    assert not found, "\n".join(found)


def test_every_request_has_a_line_without_its_query(run):
    """What nginx's error lines no longer say, its access log does: one JSON line per request with
    the path, the status and the upstream's, never the query."""
    var, _ = run
    lines = [json.loads(line) for line in (var / "nginx" / "access.log").read_text().splitlines()]
    by_path = {(line["method"], line["path"]): line for line in lines}
    assert by_path[("GET", "/web-login/oauth/callback")]["status"] == 200
    assert by_path[("POST", "/oauth/token")]["upstream"].startswith("127.0.0.1:")
    assert any(line["path"] == "/oauth/token" and line["status"] == 413 for line in lines)
    assert by_path[("GET", "/orders/42")]["check_status"] in ("200", "204", "401")
    assert not [line for line in lines if "?" in line["path"] or ";" in line["path"]]


def test_a_worker_killed_mid_check_is_logged_without_its_query(env, tmp_path):
    """uWSGI names the request a worker was serving when `--harakiri` kills it, by the target it
    was sent — over the HTTP socket the proxies use, that may carry the original query (Envoy's
    does). The lines that say a worker was killed stay; the request is not named."""
    from tests.support.introspection_server import IntrospectionServer

    provider = IntrospectionServer()
    provider.hang_seconds = 30.0
    config = tmp_path / "g.json"
    config.write_text(json.dumps({"introspection": {"endpoint": provider.url, "client_id": "rs",
                                                    "client_secret": "rs-secret"}}))
    secret = "qs-Secret-0123456789abcdef"
    proc, base, _ = start_uwsgi_check(env, tmp_path, {"GATEHOUSE_CONFIG": str(config), "OUTBOUND_TIMEOUT_SECONDS": "25",
                                                      "GUNICORN_TIMEOUT": "2", "CHECK_THREADS": "1"}, processes=1)
    try:
        with pytest.raises(requests.RequestException):  # the worker is killed mid-answer
            requests.get(f"{base}/auth/orders", params={"access_token": secret}, timeout=20,
                         headers={"X-Original-URI": "/orders", "X-Original-Method": "GET",
                                  "Authorization": "Bearer opaque-token-0123456789"})
        # the worker uWSGI respawns has loaded the app: a shutdown asked while it is still loading
        # waits out uWSGI's mercy (30 s) instead of stopping at once
        wait_until(lambda: http(f"{base}/-/ready")[0] == 200, "the respawned worker", 30)
    finally:
        provider.hang_seconds = 0.0
        provider.close()
        stop(proc)  # uWSGI's master writes its buffered lines as it stops, some after its launcher
    log_file = tmp_path / f"uwsgi-{base.rsplit(':', 1)[1]}.log"
    wait_until(lambda: "HARAKIRI triggered by worker 1" in log_file.read_text(), "uWSGI's harakiri lines", 20)
    log = log_file.read_text()
    assert "HARAKIRI ON WORKER 1" in log
    assert secret not in log, [line for line in log.splitlines() if secret in line]
