"""The development OIDC provider: oidc-provider-mock (PyPI) with what a BFF demo needs.

* Access tokens are RS256 JWTs signed with the provider's own key (RFC 9068 shape: iss, sub,
  aud = client id, exp, iat, jti, client_id, scope, and the user's claims OIDC does not define:
  groups, roles...), so an API behind nginx can verify the token the BFF forwards against the
  provider's JWKS, as it would with Keycloak or Auth0.
* Refreshed tokens say their real lifetime (`expires_in`), like the first ones.
* `--latency-ms` makes the token endpoint answer that much later, like a provider across a
  network (tests widen the window in which concurrent refreshes could race).
* Every login is a provider session: its ID tokens carry a `sid` (kept across refreshes), as
  Keycloak's and Okta's do, so back-channel logout can name one session of a user;
  `GET /_dev/sessions` lists them per subject.
* `GET /_dev/stats` counts token-endpoint calls per grant type (tests count refreshes there).
* `--client ID:SECRET` (repeatable) holds that client to that secret, with the client
  authentication decoded as RFC 6749 §2.3.1 says (Basic credentials form-urlencoded, so `+`
  is a space unless sent as `%2B`), as strict providers do; other client ids are accepted with
  any secret, as the library does. A wrong secret answers 401 `invalid_client`.
* `--refuse-userinfo-for ID` (repeatable): the userinfo endpoint answers 401 `invalid_token`
  to access tokens issued to that client, like a provider whose access tokens are
  audience-restricted to an API (Entra ID with custom API scopes, resource indicators).
* `POST /_dev/sign` signs the posted JSON claims with the provider's key (`typ` from the
  `typ` query parameter): a development-only stand-in for a provider's back-channel logout
  sender. Never run this provider anywhere but on loopback.

Run: `python -m gatehouse_dev.provider --port 9400 [--token-max-age 3600]`.
"""
from __future__ import annotations

import argparse
import json
import secrets
import threading
import time
from collections import Counter
import base64
import binascii
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import flask
import oidc_provider_mock
from authlib.jose import jwt as jose_jwt
from authlib.jose.errors import JoseError

from .runner import DEMO_USERS

# The claims OIDC Core §5.1 defines for a user (the ID token's and userinfo's, by scope), and the
# access token's own: none of them is copied from the user into the access token.
STANDARD_CLAIMS = frozenset({
    "sub", "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile",
    "picture", "website", "email", "email_verified", "gender", "birthdate", "zoneinfo", "locale", "phone_number",
    "phone_number_verified", "address", "updated_at", "iss", "aud", "exp", "iat", "jti", "client_id", "scope"})


def _storage() -> Any:
    return flask.g.oidc_provider_mock_storage


def _sign(claims: dict[str, Any], typ: str) -> str:
    key = _storage().jwk
    header = {"alg": "RS256", "typ": typ}
    kid = key.as_dict().get("kid")
    if kid:
        header["kid"] = kid
    return jose_jwt.encode(header, claims, key).decode("ascii")


def _basic(header: str) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1: base64 of form-urlencoded id ":" form-urlencoded secret."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    client_id, sep, secret = raw.partition(":")
    return (unquote_plus(client_id), unquote_plus(secret)) if sep else None


def build(users: tuple[dict[str, Any], ...] = DEMO_USERS, token_max_age: int = 3600,
          latency_ms: int = 0, clients: dict[str, str] | None = None,
          refuse_userinfo_for: tuple[str, ...] = ()) -> flask.Flask:
    # The library's pages (login form, end-session form) are templates of its package.
    app = flask.Flask("gatehouse-dev-provider",
                      template_folder=str(Path(oidc_provider_mock.__file__).resolve().parent / "templates"))
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def access_token(client: Any, grant_type: str, user: Any, scope: str) -> str:
        now = int(time.time())
        claims = {"iss": flask.request.host_url.rstrip("/"), "sub": user.sub, "aud": client.id,
                  "client_id": client.id, "iat": now, "exp": now + token_max_age,
                  "jti": secrets.token_urlsafe(12), "scope": scope or ""}
        # The user's own claims that OIDC does not define (groups, roles, entitlements...), as
        # Keycloak's mappers and Entra ID put them in access tokens: `PUT /users/<sub>` with large
        # ones gives the enterprise-sized tokens (16 KB and more) a deployment meets.
        claims.update({name: value for name, value in user.claims.items() if name not in STANDARD_CLAIMS})
        return _sign(claims, "at+jwt")

    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = access_token
    oidc_provider_mock.init_app(app, require_nonce=True, access_token_max_age=timedelta(seconds=token_max_age),
                                user_claims=tuple(oidc_provider_mock.User(sub=u["sub"], claims=dict(u)) for u in users))
    app.secret_key = secrets.token_bytes(16)

    strict = dict(clients or {})

    @app.before_request
    def count() -> Any:
        if flask.request.method == "POST" and flask.request.path == "/oauth2/token":
            with lock:
                counts[flask.request.form.get("grant_type") or "none"] += 1
            time.sleep(latency_ms / 1000)
            presented = _basic(flask.request.headers.get("Authorization", ""))
            if presented is None and "client_secret" in flask.request.form:
                presented = (flask.request.form.get("client_id", ""), flask.request.form["client_secret"])
            if presented is not None and presented[0] in strict and presented[1] != strict[presented[0]]:
                return flask.jsonify({"error": "invalid_client",
                                      "error_description": "client authentication failed"}), 401
        if flask.request.path == "/userinfo" and refuse_userinfo_for:
            scheme, _, token = flask.request.headers.get("Authorization", "").partition(" ")
            try:
                client_id = jose_jwt.decode(token.strip(), _storage().jwk).get("client_id")
            except (JoseError, ValueError, TypeError):
                return None  # not one of our JWTs: the library answers
            if client_id in refuse_userinfo_for:
                return flask.Response(status=401, headers={
                    "WWW-Authenticate": 'Bearer error="invalid_token", error_description="wrong audience"'})
        return None

    sessions: dict[str, list[str]] = {}  # sub -> provider session ids, oldest first
    session_of_refresh: dict[str, str] = {}  # refresh token -> provider session id

    def with_session(body: dict[str, Any]) -> None:
        """Give the ID token a `sid`: a new provider session at login, the same one at refresh."""
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            return
        claims = dict(jose_jwt.decode(id_token, _storage().jwk))
        grant = flask.request.form.get("grant_type")
        with lock:
            sid = session_of_refresh.pop(flask.request.form.get("refresh_token") or "", None) \
                if grant == "refresh_token" else None
            if sid is None:
                sid = secrets.token_urlsafe(12)
                sessions.setdefault(str(claims.get("sub")), []).append(sid)
            if isinstance(body.get("refresh_token"), str):
                session_of_refresh[body["refresh_token"]] = sid
        body["id_token"] = _sign({**claims, "sid": sid}, "JWT")

    @app.after_request
    def real_lifetime(response: flask.Response) -> flask.Response:
        # The library gives refreshed tokens its own 10-day default; ours live token_max_age.
        if flask.request.path == "/oauth2/token" and response.status_code == 200 and response.is_json:
            body = response.get_json()
            if isinstance(body, dict):
                if "expires_in" in body:
                    body["expires_in"] = token_max_age
                with_session(body)
                response.set_data(json.dumps(body))
        return response

    @app.get("/_dev/sessions")
    def provider_sessions() -> Any:
        with lock:
            return flask.jsonify({sub: list(sids) for sub, sids in sessions.items()})

    @app.get("/_dev/stats")
    def stats() -> Any:
        with lock:
            return flask.jsonify(dict(counts))

    @app.post("/_dev/sign")
    def sign() -> Any:
        claims = flask.request.get_json(silent=True)
        if not isinstance(claims, dict):
            return flask.jsonify({"error": "post a JSON object of claims"}), 400
        return flask.jsonify({"token": _sign(claims, flask.request.args.get("typ", "JWT"))})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m gatehouse_dev.provider", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9400)
    parser.add_argument("--token-max-age", type=int, default=3600, help="access and ID token lifetime, seconds")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay of every token-endpoint answer")
    parser.add_argument("--client", action="append", default=[], metavar="ID:SECRET",
                        help="hold this client to this secret (RFC 6749 §2.3.1 decoding)")
    parser.add_argument("--refuse-userinfo-for", action="append", default=[], metavar="ID",
                        help="userinfo answers 401 to access tokens of this client")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the development provider only listens on loopback")
    from werkzeug.serving import run_simple
    clients = dict(item.split(":", 1) for item in args.client if ":" in item)
    run_simple(args.host, args.port, build(token_max_age=args.token_max_age, latency_ms=args.latency_ms,
                                           clients=clients, refuse_userinfo_for=tuple(args.refuse_userinfo_for)),
               threaded=True)


if __name__ == "__main__":
    main()
