"""`gatehouse dev --config FILE` with your own provider instead of the development one: the
file's keys replace the generated ones (relative paths in it are relative to it), and the whole
stack (nginx, both gunicorn groups) logs people in through that provider."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.parse
from pathlib import Path

import requests

from tests.e2e.conftest import clean_env, dev_args, dev_ports, start_dev

ROOT = Path(__file__).resolve().parents[2]


def test_your_own_provider_through_the_dev_stack(tmp_path, local_provider):
    ports = dev_ports()
    site = f"http://127.0.0.1:{ports[4]}"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "routes.json").write_text(json.dumps({
        "/": {"ALL": {"authorization": {"expression": "groups.staff"}}},
        "/public": {"GET": {"authorization": {"expression": "true", "public": True}}}}))
    (mine / "overlay.yaml").write_text(f"""# my provider instead of the development one
routes_file: routes.json
apps:
  corp:
    redirectUrl: {site}/web-login/oauth/callback
    isWebsiteApp: true
    realm: corp
    defaultGroups: [staff]
    cookie: {{secure: false}}
    providers:
      sso:
        type: oidc
        clientId: gatehouse-web
        clientSecret: web-secret
        discoveryUrl: {local_provider.url}/.well-known/openid-configuration
        label: Company SSO
""")
    var = tmp_path / "var"
    proc, printed = start_dev(var, ports, tmp_path / "dev.stderr", "--config", str(mine / "overlay.yaml"))
    try:
        assert f"with apps, routes_file from {mine / 'overlay.yaml'}" in printed
        written = json.loads((var / "gatehouse.yaml").read_text())
        assert set(written["apps"]) == {"corp"} and written["routes_file"] == str(mine / "routes.json")

        browser = requests.Session()
        first = browser.get(f"{site}/", headers={"Accept": "text/html"}, allow_redirects=False, timeout=10)
        assert first.status_code == 302 and first.headers["Location"] == f"{site}/web-login?redirect=/"
        page = browser.get(first.headers["Location"], timeout=10).text
        assert "Continue with Company SSO" in page and "development provider" not in page
        link = re.search(r'href="(/authorize\?[^"]+)"', page).group(1).replace("&amp;", "&")
        to_provider = browser.get(site + link, allow_redirects=False, timeout=10)
        authorize_url = to_provider.headers["Location"]
        assert authorize_url.startswith(f"{local_provider.url}/authorize?")
        state = urllib.parse.parse_qs(urllib.parse.urlsplit(authorize_url).query)["state"][0]
        done = browser.post(f"{site}/oauth/token", data={"code": local_provider.code_for(authorize_url), "state": state},
                            allow_redirects=False, timeout=10)
        assert done.status_code == 303, done.text
        seen = browser.get(f"{site}/", headers={"Accept": "application/json"}, timeout=10).json()["headers"]
        assert seen["miausergroups"] == "staff" and seen["miauserid"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_a_bad_overlay_is_one_line(tmp_path):
    ports = dev_ports()
    missing = subprocess.run([*dev_args(tmp_path / "var", ports), "--config", str(tmp_path / "nope.yaml")],
                             cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and missing.stderr.strip().splitlines() == [
        f"gatehouse dev: --config refused: GATEHOUSE_CONFIG ({tmp_path / 'nope.yaml'}): cannot read the file "
        "(No such file or directory)"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("apps: {corp: {redirectUrl: nope, providers: {sso: {type: oidc}}}}\n")
    refused = subprocess.run([*dev_args(tmp_path / "var", ports), "--config", str(bad)],
                             cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=120)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1 and "Traceback" not in refused.stderr
    assert lines[0].startswith(f"gatehouse dev: configuration refused: {bad}: apps.corp")
    assert "clientId" in lines[0] and "redirectUrl" in lines[0]


def test_the_docs_overlay_is_accepted_as_written(tmp_path):
    """docs/login.md "Trying your own provider with `gatehouse dev`": its `mine.yaml`, with a client
    secret filled in and the routes file it names beside it, passes the validation `gatehouse dev
    --config` runs before anything serves, its keys replacing the generated ones."""
    from gatehouse_dev.runner import DEMO_ROUTES, check_config, prepare, read_overlay

    page = (ROOT / "docs" / "login.md").read_text()
    section = page[page.index("## Trying your own provider with `gatehouse dev`"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    assert block.group(1).count("<secret>") == 1  # the one thing a reader fills in
    mine = tmp_path / "mine.yaml"
    mine.write_text(block.group(1).replace("<secret>", "s3cret-from-the-provider"))
    (tmp_path / "my-routes.json").write_text(json.dumps(DEMO_ROUTES))
    overlaid = read_overlay(mine)
    var = tmp_path / "var"
    config = prepare(var, 3000, "mongodb://127.0.0.1:27018/gatehouse", "redis://127.0.0.1:6380/0",
                     "http://127.0.0.1:8080", 9400, overlaid)
    check_config(config, mine, overlaid)
    written = json.loads(config.read_text())
    assert set(written["apps"]) == {"corp"} and written["routes_file"] == str(tmp_path / "my-routes.json")
    assert written["apps"]["corp"]["providers"]["keycloak"]["type"] == "keycloak"
