"""Cutting someone off is one act: blocking or deleting a user (admin API or `gatehouse users`)
ends their Gatehouse login sessions and the BFF sessions of their provider identity; disabling a
client or revoking its tokens ends its live tokens. Each row checks the refusal at another
worker (its own revocation mirror, pulling every 0.2 s) and that a bystander keeps working.

One deployment with a login app and the BFF at the same development provider (over HTTP), the
mirrored revocation default, real Redis and the MongoDB-wire server.
tests/e2e/test_offboarding_nginx.py walks the block through the shipped nginx."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from app import create_app
from app.settings import load_settings
from tests.conftest import ADMIN, basic, login_app, with_apps
from tests.integration import test_bff as bff_flow
from tests.integration.test_login import at_dev_provider, start
from tests.integration.test_users import cli
from tests.support.servers import within

BOUND = 0.2
ROUTES = {"/orders": {"GET": {"authorization": {"expression": "permissions.orders"}}},
          "/": {"ALL": {"authorization": {"expression": "true"}}}}


class Site:
    """Two workers (apps, as two processes would be) of one deployment."""

    def __init__(self, env: dict[str, str], tmp_path, provider_url: str) -> None:
        routes = tmp_path / "routes.json"
        routes.write_text(json.dumps(ROUTES))
        self.env = {**with_apps(env, tmp_path, {"web": login_app(provider_url, isWebsiteApp=False)},
                                bff=bff_flow.bff_config(provider_url)),
                    "ROUTES_FILE": str(routes), "REVOCATION_SYNC_SECONDS": str(BOUND)}
        self.admin = create_app(load_settings(self.env)).test_client(use_cookies=False)
        self.other = create_app(load_settings(self.env)).test_client(use_cookies=False)

    def login_session(self, sub: str) -> dict[str, str]:
        """A Gatehouse login session (its access token and user id)."""
        browser = self.admin.application.test_client()
        r = browser.post("/oauth/token", json=at_dev_provider(start(browser), sub))
        assert r.status_code == 200, r.json
        user_id = self.auth({"Authorization": f"Bearer {r.json['accessToken']}"}).headers["mia-userid"]
        return {"Authorization": f"Bearer {r.json['accessToken']}", "userId": user_id}

    def bff_session(self, sub: str) -> dict[str, str]:
        sid, _ = bff_flow.login(self.admin, sub)
        return {"Cookie": f"{bff_flow.COOKIE}={sid}"}

    def client_token(self, name: str) -> tuple[dict[str, str], dict[str, str]]:
        r = self.admin.post("/register", json={"client_name": name, "permissions": ["orders"]}, headers=ADMIN)
        assert r.status_code == 201, r.json
        token = self.admin.post("/oauth/token", data={"grant_type": "client_credentials"},
                                headers=basic(r.json["client_id"], r.json["client_secret"]))
        assert token.status_code == 200, token.json
        return r.json, {"Authorization": f"Bearer {token.json['access_token']}"}

    def auth(self, credential: dict[str, str], worker: Any = None) -> Any:
        headers = {k: v for k, v in credential.items() if k in ("Authorization", "Cookie")}
        return (worker or self.admin).get("/auth", headers={"X-Original-URI": "/x", "X-Original-Method": "GET",
                                                            **headers})


@pytest.fixture
def site(env, tmp_path, dev_provider):
    return Site(env, tmp_path, dev_provider.url)


def block_api(site: Site, user_id: str) -> dict[str, Any]:
    r = site.admin.patch(f"/users/{user_id}", json={"blocked": True}, headers=ADMIN)
    assert r.status_code == 200 and r.json["blocked"] is True, r.json
    return dict(r.json)


def delete_api(site: Site, user_id: str) -> dict[str, Any]:
    r = site.admin.delete(f"/users/{user_id}", headers=ADMIN)
    assert r.status_code == 200, r.json
    assert site.admin.get(f"/users/{user_id}", headers=ADMIN).status_code == 404
    return dict(r.json)


def by_cli(command: str) -> Callable[[Site, str], dict[str, Any]]:
    def act(site: Site, user_id: str) -> dict[str, Any]:
        result = cli(site.env, "users", command, user_id)
        if command == "block":
            assert "ended 1 session(s) and 1 BFF session(s)" in result.stderr, result.stderr
        return dict(json.loads(result.stdout))
    return act


def disable_client(site: Site, client_id: str) -> dict[str, Any]:
    r = site.admin.delete(f"/clients/{client_id}", headers=ADMIN)
    assert r.status_code == 200, r.json
    return dict(r.json)


def revoke_client_tokens(site: Site, client_id: str) -> dict[str, Any]:
    r = site.admin.post(f"/clients/{client_id}/revoke-tokens", headers=ADMIN)
    assert r.status_code == 200, r.json
    return dict(r.json)


@dataclass(frozen=True)
class Row:
    name: str
    act: Callable[[Site, str], dict[str, Any]]
    of: str  # "user": a login session and a BFF session; "client": a client's access token
    answer: dict[str, Any]


ENDED = {"sessionsEnded": 1, "bffSessionsEnded": 1}
ROWS = [
    Row("block a user (API)", block_api, "user", ENDED),
    Row("block a user (CLI)", by_cli("block"), "user", ENDED),
    Row("delete a user (API)", delete_api, "user", {"endedSessions": 1, **ENDED}),
    Row("delete a user (CLI)", by_cli("delete"), "user", {"endedSessions": 1, **ENDED}),
    Row("disable a client", disable_client, "client", {}),
    Row("revoke a client's tokens", revoke_client_tokens, "client", {}),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_one_act_ends_every_session_at_every_worker(site, row):
    if row.of == "user":
        login, spa = site.login_session("alice"), site.bff_session("alice")
        victims = {"login session": login, "BFF session": spa}
        bystanders = {"login session": site.login_session("bob"), "BFF session": site.bff_session("bob")}
        target = login["userId"]
    else:
        reg, token = site.client_token("compromised")
        victims, bystanders = {"client token": token}, {"client token": site.client_token("bystander")[1]}
        target = reg["client_id"]
    for credential in (*victims.values(), *bystanders.values()):  # the other worker holds each copy
        assert site.auth(credential, site.other).status_code == 204
    answer = row.act(site, target)
    for what, credential in victims.items():
        assert within(lambda: site.auth(credential, site.other).status_code == 401, BOUND + 2), \
            f"the {what} still works at another worker"
        assert site.auth(credential).status_code == 401
    assert {k: answer.get(k) for k in row.answer} == row.answer, answer
    for what, credential in bystanders.items():
        assert site.auth(credential, site.other).status_code == 204, f"a bystander's {what} was ended"
    if row.of == "user":
        assert bff_flow.session(site.admin, victims["BFF session"]["Cookie"].split("=", 1)[1]).status_code == 401


def test_a_user_without_a_provider_identity_ends_no_bff_session(site):
    """Pre-provisioned by email and never logged in: nothing at the BFF is theirs."""
    spa = site.bff_session("alice")
    made = site.admin.post("/users", json={"email": "alice@example.test"}, headers=ADMIN).json
    r = site.admin.patch(f"/users/{made['userId']}", json={"blocked": True}, headers=ADMIN)
    assert (r.status_code, r.json["sessionsEnded"], r.json["bffSessionsEnded"]) == (200, 0, 0)
    assert site.auth(spa, site.other).status_code == 204


def test_unblocking_and_other_changes_end_nothing(site):
    login = site.login_session("alice")
    spa = site.bff_session("alice")
    for body in ({"blocked": False}, {"addGroups": ["ops"]}):
        r = site.admin.patch(f"/users/{login['userId']}", json=body, headers=ADMIN)
        assert r.status_code == 200 and "sessionsEnded" not in r.json
    assert site.auth(login, site.other).status_code == 204 and site.auth(spa, site.other).status_code == 204


def bff_login_page(site: Site, sub: str):
    """The BFF callback's answer for a login as `sub` (200 and a session, or a refusal)."""
    r = site.admin.get("/bff/login")
    assert r.status_code == 302, r.data
    back = at_dev_provider(r.headers["Location"], sub)
    return site.admin.get("/bff/oauth/callback", query_string=back, headers={"Cookie": bff_flow.binding(r)})


def stored_bff_sessions(site: Site) -> int:
    return len(list(site.admin.application.extensions["gatehouse"].redis.scan_iter("gatehouse:v1:bff:*")))


def test_a_blocked_user_cannot_log_back_in_through_the_bff(site):
    user_id = site.login_session("alice")["userId"]
    block_api(site, user_id)
    before = stored_bff_sessions(site)
    refused = bff_login_page(site, "alice")
    assert refused.status_code == 403 and "blocked" in refused.get_data(as_text=True)
    assert bff_flow.COOKIE not in bff_flow.set_cookies(refused) and stored_bff_sessions(site) == before
    assert bff_login_page(site, "bob").status_code == 200
    site.admin.patch(f"/users/{user_id}", json={"blocked": False}, headers=ADMIN)
    assert bff_login_page(site, "alice").status_code == 200


def test_a_block_that_lands_during_a_bff_login_ends_the_new_session(site):
    """The block looked for BFF sessions before this login stored its own: the login ends it."""
    user_id = site.login_session("alice")["userId"]
    bff = site.admin.application.extensions["gatehouse"].bff
    real = bff.records.create

    def stored_then_blocked(*args, **kwargs):
        real(*args, **kwargs)
        site.admin.application.extensions["gatehouse"].mongo["users"].update_one(
            {"userId": user_id}, {"$set": {"blocked": True}})
    bff.records.create = stored_then_blocked
    before = stored_bff_sessions(site)
    refused = bff_login_page(site, "alice")
    assert refused.status_code == 403 and stored_bff_sessions(site) == before
