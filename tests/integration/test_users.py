"""Users managed by an administrator: the admin API (/users) and `gatehouse users`, against the
real MongoDB-wire server and Redis, with logins through the development provider over HTTP."""
from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from app import create_app
from app.cli import main
from app.settings import load_settings
from tests.conftest import ADMIN, login_app, with_apps
from tests.integration.test_login import ROUTES, at_dev_provider, auth, start
from tests.support.servers import within


@pytest.fixture
def config_env(env, tmp_path, dev_provider):
    """The environment of an app with the development provider (the CLI reads the same)."""
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps(ROUTES))
    second = login_app(dev_provider.url)
    second["realm"] = "partners"
    return {**with_apps(env, tmp_path, {"web": login_app(dev_provider.url), "partners": second},
                        default_app_id="web"), "ROUTES_FILE": str(routes)}


@pytest.fixture
def gh(config_env):
    app = create_app(load_settings(config_env))
    return app, app.test_client()


def mongo_users(app):
    return app.extensions["gatehouse"].mongo["users"]


def snapshot(app) -> list[dict]:
    return list(mongo_users(app).find({}, {"_id": 0}).sort("userId", 1))


def login(c, sub: str, app_id: str = "web"):
    """A JSON login (the tokens are in the answer; the test client keeps the cookies)."""
    return c.post("/oauth/token", json=at_dev_provider(start(c, app_id=app_id), sub))


def create(c, status: int = 201, **body):
    r = c.post("/users", json=body, headers=ADMIN)
    assert r.status_code == status, r.json
    return r.json


def bearer(c, token: str) -> dict[str, str]:
    """Present the session as a bearer token only (the test client would send its sid cookie)."""
    c.delete_cookie("sid")
    return {"Authorization": f"Bearer {token}"}


ENDPOINTS = [("get", "/users"), ("get", "/users/u1"), ("post", "/users"), ("patch", "/users/u1"),
             ("delete", "/users/u1")]


@pytest.mark.parametrize("method,path", ENDPOINTS)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-" + "x" * 40}], ids=["none", "wrong"])
def test_the_admin_token_is_required(gh, method, path, headers):
    app, c = gh
    before = snapshot(app)
    r = getattr(c, method)(path, json={"email": "a@example.test"}, headers=headers)
    assert r.status_code == 401 and snapshot(app) == before


def test_without_apps_there_are_no_users_to_manage(client):
    assert client.get("/users", headers=ADMIN).status_code == 404
    assert client.post("/users", json={"email": "a@example.test"}, headers=ADMIN).status_code == 404


def test_pre_provisioned_by_provider_identity_the_first_login_merges(gh):
    app, c = gh
    made = create(c, providerId="dev", providerUserId="alice", groups=["admin"], metadata={"team": "core"})
    assert made["realm"] == "demo" and made["blocked"] is False and made["lastLogin"] is None
    assert c.get(f"/users/{made['userId']}", headers=ADMIN).json == made
    tokens = login(c, "alice").json
    allowed = auth(c, **bearer(c, tokens["accessToken"]))
    assert allowed.status_code == 204 and allowed.headers["mia-userid"] == made["userId"]
    assert allowed.headers["mia-groups"] == "admin"
    assert c.get("/userinfo", headers=bearer(c, tokens["accessToken"])).json["metadata"] == {"team": "core"}
    shown = c.get(f"/users/{made['userId']}", headers=ADMIN).json
    assert shown["email"] == "alice@example.test" and shown["lastLogin"] and mongo_users(app).count_documents({}) == 1


def test_pre_provisioned_by_email_the_first_login_merges(gh):
    app, c = gh
    made = create(c, email="Bob@Example.test", groups=["admin"])
    assert made["invitedEmail"] == "bob@example.test" and made["providerUserId"] is None
    login(c, "bob")
    r = auth(c)
    assert r.headers["mia-userid"] == made["userId"] and r.headers["mia-groups"] == "admin"
    linked = c.get(f"/users/{made['userId']}", headers=ADMIN).json
    assert (linked["providerId"], linked["providerUserId"]) == ("dev", "bob") and "invitedEmail" not in linked
    assert mongo_users(app).count_documents({}) == 1


def test_a_login_in_another_realm_is_another_user(gh):
    app, c = gh
    made = create(c, providerId="dev", providerUserId="alice", groups=["admin"])
    login(c, "alice", app_id="partners")
    r = auth(c)
    assert r.headers["mia-userid"] != made["userId"] and r.headers["mia-groups"] == "users"
    listed = c.get("/users", query_string={"realm": "partners"}, headers=ADMIN)
    assert listed.headers["X-Total-Count"] == "1" and listed.json[0]["realm"] == "partners"


def test_list_filters_and_pages(gh):
    _, c = gh
    for sub in ("alice", "bob"):
        login(c, sub)
    create(c, email="carol@example.test", groups=["ops"])
    alice = c.get("/users", query_string={"email": "ALICE@example.test"}, headers=ADMIN).json[0]
    c.patch(f"/users/{alice['userId']}", json={"addGroups": ["ops"]}, headers=ADMIN)

    def emails(**query):
        r = c.get("/users", query_string=query, headers=ADMIN)
        assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
        return [u["email"] for u in r.json], int(r.headers["X-Total-Count"])

    everyone, total = emails()  # oldest first; all three were made within the same second here
    assert sorted(everyone) == ["alice@example.test", "bob@example.test", "carol@example.test"] and total == 3
    assert emails(limit=2, skip=1) == (everyone[1:], 3) and emails(limit=1) == (everyone[:1], 3)
    assert sorted(emails(group="ops")[0]) == ["alice@example.test", "carol@example.test"]
    assert emails(q="BOB") == (["bob@example.test"], 1)
    assert emails(providerId="dev", providerUserId="bob") == (["bob@example.test"], 1)
    assert emails(blocked="true") == ([], 0)


def test_groups_change_reaches_the_session_at_its_refresh(gh):
    _, c = gh
    tokens = login(c, "bob").json
    user_id = auth(c).headers["mia-userid"]
    r = c.patch(f"/users/{user_id}", json={"groups": ["admin", "users"], "metadata": {"floor": 3}}, headers=ADMIN)
    assert r.status_code == 200 and r.json["groups"] == ["admin", "users"] and r.json["metadata"] == {"floor": 3}
    assert c.patch(f"/users/{user_id}", json={"removeGroups": ["users"]}, headers=ADMIN).json["groups"] == ["admin"]
    r = c.post("/refreshtoken", json={"refreshToken": tokens["refreshToken"]})
    assert r.status_code == 200 and set(r.json) == {"expireAt"}  # a website app: tokens in cookies only
    sid = next(h.split(";", 1)[0].split("=", 1)[1] for h in r.headers.getlist("Set-Cookie") if h.startswith("sid="))
    assert auth(c, **bearer(c, sid)).headers["mia-groups"] == "admin"


def test_the_largest_identity_the_limits_allow_logs_in_and_is_judged_by_its_groups(gh):
    """500 groups of 256 characters through the API, then login, /auth and /userinfo."""
    app, c = gh
    groups = [f"{i:03d}-" + "g" * 252 for i in range(499)] + ["admin"]
    made = create(c, providerId="dev", providerUserId="bob", groups=groups)
    assert made["groups"] == groups
    tokens = login(c, "bob").json
    assert "accessToken" in tokens, tokens
    assert len(tokens["accessToken"]) < 3500
    assert auth(c, **bearer(c, tokens["accessToken"]), **{"X-Original-URI": "/admin"}).status_code == 204
    assert c.get("/userinfo", headers={"Authorization": f"Bearer {tokens['accessToken']}"}).json["groups"] == groups


def test_a_user_past_the_limits_is_refused_by_name_at_login_and_refresh(gh):
    """A record edited by hand past the limits: a 403 naming the limit, never a session
    (nothing to decide with) nor a 500."""
    app, c = gh
    tokens = login(c, "bob").json
    users = mongo_users(app)
    users.update_one({"providerUserId": "bob"}, {"$set": {"groups": [f"g{i}" for i in range(501)]}})
    r = c.post("/refreshtoken", json={"refreshToken": tokens["refreshToken"]})
    assert r.status_code == 403 and r.json["message"] == (
        "the user has 501 groups; Gatehouse supports at most 500 groups per user"), r.json
    r = login(c, "bob")
    assert r.status_code == 403 and "at most 500 groups per user" in r.json["message"], r.json
    users.update_one({"providerUserId": "bob"}, {"$set": {"groups": ["users", "g" * 257]}})
    r = login(c, "bob")
    assert r.status_code == 403 and "group names of at most 256 characters" in r.json["message"], r.json
    # the refresh token refused above was not spent: back within the limits, it works
    users.update_one({"providerUserId": "bob"}, {"$set": {"groups": ["users"]}})
    assert c.post("/refreshtoken", json={"refreshToken": tokens["refreshToken"]}).status_code == 200


def test_blocking_ends_the_sessions_and_refuses_login_and_refresh(gh):
    app, c = gh
    tokens = login(c, "alice").json
    other = login(c, "alice").json
    bob = login(c, "bob").json
    user_id = auth(c, **bearer(c, tokens["accessToken"])).headers["mia-userid"]
    r = c.patch(f"/users/{user_id}", json={"blocked": True}, headers=ADMIN)
    assert r.status_code == 200 and r.json["blocked"] is True
    for t in (tokens, other):
        assert auth(c, **bearer(c, t["accessToken"])).status_code == 401
        assert c.post("/refreshtoken", json={"refreshToken": t["refreshToken"]}).status_code == 401
    assert auth(c, **bearer(c, bob["accessToken"])).status_code == 204
    sessions = app.extensions["gatehouse"].mongo["sessions"]
    before = sessions.count_documents({})
    refused = login(c, "alice")
    assert refused.status_code == 403 and "blocked" in refused.json["message"]
    browser = c.post("/oauth/token", data=at_dev_provider(start(c), "alice"), headers={"Accept": "text/html"})
    assert browser.status_code == 403 and b"blocked" in browser.data
    assert sessions.count_documents({}) == before
    assert c.patch(f"/users/{user_id}", json={"blocked": False}, headers=ADMIN).json["blocked"] is False
    again = login(c, "alice")
    assert again.status_code == 200
    assert auth(c, **bearer(c, again.json["accessToken"])).headers["mia-userid"] == user_id


def test_a_block_that_lands_during_a_login_ends_the_new_session(gh):
    """The admin blocks the user after the login merged them but before its session opened:
    the block found no session to end, so the login ends its own and answers 403."""
    from app.core.records import UserChanges
    app, c = gh
    login_service = app.extensions["gatehouse"].login
    real = login_service.users

    class BlockedMeanwhile:
        def __getattr__(self, name):
            return getattr(real, name)

        def merge_login(self, *args, **kwargs):
            user = real.merge_login(*args, **kwargs)
            real.update(user["userId"], UserChanges(blocked=True), 0)
            return user

    login_service.users = BlockedMeanwhile()
    r = login(c, "alice")
    assert r.status_code == 403 and "blocked" in r.json["message"]
    sessions = app.extensions["gatehouse"].mongo["sessions"]
    assert sessions.count_documents({}) == 1 and sessions.count_documents({"endedAt": None}) == 0


def test_a_user_blocked_by_hand_in_mongodb_cannot_refresh(gh):
    app, c = gh
    tokens = login(c, "bob").json
    mongo_users(app).update_one({"providerUserId": "bob"}, {"$set": {"blocked": True}})
    r = c.post("/refreshtoken", json={"refreshToken": tokens["refreshToken"]})
    assert r.status_code == 401 and "blocked" in r.json["message"]
    assert auth(c, **bearer(c, tokens["accessToken"])).status_code == 401  # the session was ended


@pytest.mark.parametrize("by", ["api", "cli", "cli delete"])
def test_blocking_is_honoured_by_auth_within_the_revocation_bound(config_env, by):
    """With the default mirrored revocations (each worker pulls ended sessions every second): a
    block through the API, or through `gatehouse users block|delete` in another process's place
    (it publishes the ended sessions as the API does), reaches a running worker within the bound."""
    app = create_app(load_settings({**config_env, "REVOCATION_SYNC_SECONDS": "1"}))
    c = app.test_client()
    tokens = login(c, "alice").json
    allowed = auth(c, **bearer(c, tokens["accessToken"]))
    assert allowed.status_code == 204
    user_id = allowed.headers["mia-userid"]
    blocked_at = time.monotonic()
    if by == "api":
        assert c.patch(f"/users/{user_id}", json={"blocked": True}, headers=ADMIN).status_code == 200
    else:
        ended = cli(config_env, "users", by.split()[-1] if by != "cli" else "block", user_id)
        assert "ended 1 session(s)" in ended.stderr or json.loads(ended.stdout).get("endedSessions") == 1
    assert within(lambda: auth(c, **bearer(c, tokens["accessToken"])).status_code != 204, 1.5, since=blocked_at), \
        "still allowed after the revocation bound"


def test_delete_ends_the_sessions_and_a_later_login_is_a_new_user(gh):
    app, c = gh
    tokens = login(c, "alice").json
    user_id = auth(c).headers["mia-userid"]
    r = c.delete(f"/users/{user_id}", headers=ADMIN)
    assert r.status_code == 200 and r.json == {"userId": user_id, "endedSessions": 1, "sessionsEnded": 1,
                                               "bffSessionsEnded": 0}
    assert auth(c, **bearer(c, tokens["accessToken"])).status_code == 401
    assert c.get(f"/users/{user_id}", headers=ADMIN).status_code == 404
    login(c, "alice")
    assert auth(c).headers["mia-userid"] not in (user_id, None)


@pytest.mark.parametrize("method,body", [("get", None), ("patch", {"blocked": True}), ("delete", None)])
def test_unknown_users_are_404(gh, method, body):
    app, c = gh
    before = snapshot(app)
    r = getattr(c, method)("/users/no-such-user", json=body, headers=ADMIN)
    assert r.status_code == 404 and r.json["message"] == "no such user" and snapshot(app) == before


DUPLICATES = [
    ("same provider identity", {"providerId": "dev", "providerUserId": "alice"},
     {"providerId": "dev", "providerUserId": "alice", "groups": ["x"]}, "providerId and providerUserId"),
    ("same invited email", {"email": "dan@example.test"}, {"email": "DAN@example.test"}, "email"),
    ("email of a user who logged in", None, {"email": "alice@example.test"}, "email"),
]


@pytest.mark.parametrize("name,first,second,message", DUPLICATES, ids=[d[0] for d in DUPLICATES])
def test_duplicates_are_409_and_write_nothing(gh, name, first, second, message):
    app, c = gh
    if first is None:
        login(c, "alice")
    else:
        create(c, **first)
    before = snapshot(app)
    r = c.post("/users", json=second, headers=ADMIN)
    assert r.status_code == 409 and message in r.json["message"] and r.json["error"] == "Conflict"
    assert snapshot(app) == before


BAD_CREATES = [
    ("not json", {"data": "email=a@example.test", "content_type": "application/x-www-form-urlencoded"},
     "the body must be a JSON object"),
    ("json array", {"data": "[]", "content_type": "application/json"}, "the body must be a JSON object"),
    ("broken json", {"data": "{", "content_type": "application/json"}, "the body must be a JSON object"),
    ("no identity", {"json": {"groups": ["a"]}}, "email: give email, or providerId and providerUserId"),
    ("subject without provider", {"json": {"providerUserId": "x"}}, "providerId: required with providerUserId"),
    ("provider without subject or email", {"json": {"providerId": "dev"}}, "email: give email"),
    ("bad email", {"json": {"email": "not-an-email"}}, "email: Not a valid email address."),
    ("email not a string", {"json": {"email": 5}}, "email: Not a valid email address."),
    ("groups not a list", {"json": {"email": "a@example.test", "groups": "admin"}}, "groups: Not a valid list."),
    ("group with a comma", {"json": {"email": "a@example.test", "groups": ["ok", "a,b"]}},
     "groups[1]: must be 1-256 characters without commas"),
    ("empty group", {"json": {"email": "a@example.test", "groups": [""]}}, "groups[0]: must be 1-256"),
    ("group too long", {"json": {"email": "a@example.test", "groups": ["g" * 257]}}, "groups[0]: must be 1-256"),
    ("group not a string", {"json": {"email": "a@example.test", "groups": [1]}}, "groups[0]: Not a valid string."),
    ("too many groups", {"json": {"email": "a@example.test", "groups": [f"g{i}" for i in range(501)]}},
     "groups: at most 500 groups per user"),
    ("name too long", {"json": {"email": "a@example.test", "name": "n" * 1025}},
     "name: Length must be between 1 and 1024."),
    ("metadata not an object", {"json": {"email": "a@example.test", "metadata": [1]}},
     "metadata: Not a valid mapping type."),
    ("metadata key with $", {"json": {"email": "a@example.test", "metadata": {"$where": 1}}}, "metadata: key '$where'"),
    ("nested metadata key with a dot", {"json": {"email": "a@example.test", "metadata": {"a": [{"b.c": 1}]}}},
     "metadata: key 'b.c'"),
    ("metadata too large", {"json": {"email": "a@example.test", "metadata": {"a": "x" * 5000}}},
     "metadata: must be at most 4096 bytes"),
    ("blocked not a boolean", {"json": {"email": "a@example.test", "blocked": "yes"}}, "blocked: Not a valid boolean."),
    ("unknown field", {"json": {"email": "a@example.test", "userId": "mine"}}, "userId: Unknown field."),
    ("unknown realm", {"json": {"email": "a@example.test", "realm": "nowhere"}},
     "realm: no configured app has the realm 'nowhere'"),
    ("unknown provider", {"json": {"providerId": "okta", "providerUserId": "x"}},
     "providerId: no app of the realm 'demo' has the provider 'okta'"),
    ("bad provider id", {"json": {"providerId": "a b", "providerUserId": "x"}}, "providerId: must be 1-64"),
    ("subject too long", {"json": {"providerId": "dev", "providerUserId": "x" * 513}}, "providerUserId: Length"),
]


@pytest.mark.parametrize("name,kwargs,message", BAD_CREATES, ids=[b[0] for b in BAD_CREATES])
def test_bad_creates_are_400_naming_the_field_and_write_nothing(gh, name, kwargs, message):
    app, c = gh
    before = snapshot(app)
    r = c.post("/users", headers=ADMIN, **kwargs)
    assert r.status_code == 400, r.json
    assert r.json["error"] == "Bad Request" and message in r.json["message"], r.json["message"]
    assert snapshot(app) == before


BAD_PATCHES = [
    ("empty", {}, "give at least one of groups, addGroups, removeGroups, metadata, blocked"),
    ("provider field", {"email": "x@example.test"}, "email: Unknown field."),
    ("name", {"name": "Eve"}, "name: Unknown field."),
    ("groups null", {"groups": None}, "groups: Field may not be null."),
    ("groups not a list", {"groups": "admin"}, "groups: Not a valid list."),
    ("replace and add", {"groups": ["a"], "addGroups": ["b"]}, "groups: replace the groups, or add and remove"),
    ("add and remove", {"addGroups": ["a"], "removeGroups": ["b"]}, "addGroups: add groups and remove groups"),
    ("bad added group", {"addGroups": ["x\n"]}, "addGroups[0]: must be 1-256"),
    ("too many added groups", {"addGroups": [f"g{i}" for i in range(501)]}, "addGroups: at most 500 groups per user"),
    ("added past the limit", {"addGroups": [f"g{i}" for i in range(500)]},
     "addGroups: the user would have 501 groups; at most 500 groups per user"),
    ("blocked as a number", {"blocked": 1}, "blocked: Not a valid boolean."),
    ("metadata null", {"metadata": None}, "metadata: Field may not be null."),
    ("metadata key with NUL", {"metadata": {"a\x00": 1}}, "metadata: key"),
    ("valid change beside a bad one", {"groups": ["ok"], "blocked": "no"}, "blocked: Not a valid boolean."),
]


@pytest.mark.parametrize("name,body,message", BAD_PATCHES, ids=[b[0] for b in BAD_PATCHES])
def test_bad_patches_are_400_naming_the_field_and_change_nothing(gh, name, body, message):
    app, c = gh
    user = create(c, email="fay@example.test", groups=["users"])
    before = snapshot(app)
    r = c.patch(f"/users/{user['userId']}", json=body, headers=ADMIN)
    assert r.status_code == 400 and message in r.json["message"], r.json
    assert snapshot(app) == before


BAD_QUERIES = [
    ({"limit": "0"}, "limit: Must be greater than or equal to 1"),
    ({"limit": "501"}, "limit: Must be greater than or equal to 1 and less than or equal to 500."),
    ({"limit": "ten"}, "limit: Not a valid integer."),
    ({"skip": "-1"}, "skip: Must be greater than or equal to 0"),
    ({"blocked": "maybe"}, "blocked: Not a valid boolean."),
    ({"group": ""}, "group: Length must be between 1 and 256."),
    ({"q": "x" * 201}, "q: Length must be between 1 and 200."),
    ({"sort": "name"}, "sort: Unknown field."),
]


@pytest.mark.parametrize("query,message", BAD_QUERIES, ids=[next(iter(q)) + "=" + q[next(iter(q))][:8] for q, _ in BAD_QUERIES])
def test_bad_list_queries_are_400_naming_the_parameter(gh, query, message):
    _, c = gh
    r = c.get("/users", query_string=query, headers=ADMIN)
    assert r.status_code == 400 and message in r.json["message"], r.json


# -- gatehouse users -----------------------------------------------------------------------------

def cli(env, *args, ok=True):
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, (result.output, result.stderr)
    return result


def test_cli_lifecycle(config_env, gh):
    app, c = gh
    made = json.loads(cli(config_env, "users", "create", "--email", "gus@example.test", "--group", "ops",
                          "--metadata", '{"desk": 4}').stdout)
    uid = made["userId"]
    assert made["invitedEmail"] == "gus@example.test" and made["groups"] == ["ops"] and made["metadata"] == {"desk": 4}
    by_subject = json.loads(cli(config_env, "users", "create", "--provider", "dev", "--subject", "alice",
                                "--realm", "partners", "--group", "users").stdout)
    assert by_subject["realm"] == "partners"
    assert json.loads(cli(config_env, "users", "grant", uid, "admin", "ops").stdout)["groups"] == ["ops", "admin"]
    assert json.loads(cli(config_env, "users", "revoke", uid, "ops").stdout)["groups"] == ["admin"]
    listed = cli(config_env, "users", "list", "--group", "admin")
    assert [u["userId"] for u in json.loads(listed.stdout)] == [uid] and "1 of 1 users" in listed.stderr
    assert json.loads(cli(config_env, "users", "show", uid).stdout)["groups"] == ["admin"]

    tokens = login(c, "alice", app_id="partners").json
    alice = auth(c, **bearer(c, tokens["accessToken"])).headers["mia-userid"]
    assert alice == by_subject["userId"]
    blocked = cli(config_env, "users", "block", alice)
    assert json.loads(blocked.stdout)["blocked"] is True and "ended 1 session(s)" in blocked.stderr
    assert auth(c, **bearer(c, tokens["accessToken"])).status_code == 401
    assert json.loads(cli(config_env, "users", "list", "--blocked").stdout)[0]["userId"] == alice
    assert json.loads(cli(config_env, "users", "unblock", alice).stdout)["blocked"] is False
    assert json.loads(cli(config_env, "users", "delete", uid).stdout) == {"userId": uid, "endedSessions": 0,
                                                                          "sessionsEnded": 0, "bffSessionsEnded": 0}
    assert c.get(f"/users/{uid}", headers=ADMIN).status_code == 404


@pytest.mark.parametrize("args,message", [
    (("users", "show", "nope"), "no such user"),
    (("users", "grant", "nope", "admin"), "no such user"),
    (("users", "revoke", "nope", "admin"), "no such user"),
    (("users", "block", "nope"), "no such user"),
    (("users", "unblock", "nope"), "no such user"),
    (("users", "delete", "nope"), "no such user"),
    (("users", "create", "--email", "TAKEN@example.test"), "a user with this email exists already"),
    (("users", "create", "--provider", "dev", "--subject", "carol"), "with this providerId and providerUserId exists"),
    (("users", "create", "--subject", "x"), "providerId: required with providerUserId"),
    (("users", "create", "--email", "x@example.test", "--group", "a,b"), "groups[0]: must be 1-256"),
    (("users", "create", "--email", "x@example.test", *(a for i in range(501) for a in ("--group", f"g{i}"))),
     "groups: at most 500 groups per user"),
    (("users", "create", "--email", "x@example.test", "--metadata", "{"), "metadata: not valid JSON"),
    (("users", "create", "--email", "x@example.test", "--realm", "nowhere"), "realm: no configured app"),
    (("users", "list", "--limit", "0"), "limit: Must be greater than or equal to 1"),
], ids=["unknown", "grant-unknown", "revoke-unknown", "block-unknown", "unblock-unknown", "delete-unknown",
        "duplicate-email", "duplicate-identity", "no-provider", "bad-group", "too-many-groups", "bad-metadata",
        "bad-realm", "bad-limit"])
def test_cli_refusals_are_one_line(config_env, gh, args, message):
    """404 and 409 of the API as one line and exit 1, 400s naming the field; nothing written."""
    app, c = gh
    create(c, email="taken@example.test")  # the duplicates' first users
    create(c, providerId="dev", providerUserId="carol")
    before = snapshot(app)
    result = cli(config_env, *args, ok=False)
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert snapshot(app) == before


def test_cli_without_apps(env):
    result = cli({**env, "GATEHOUSE_CONFIG": ""}, "users", "list", ok=False)
    assert result.exit_code == 1 and "no login apps are configured" in result.stderr
