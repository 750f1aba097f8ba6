"""Identity providers for the login tests, all real HTTP servers on loopback:

* `DevProvider`: the development OIDC provider (`oidc-provider-mock` from PyPI, wrapped by
  gatehouse_dev/provider.py: JWT access tokens, grant counters) as a child process, with the demo
  users; used for the happy paths and the browser tests.
* `LocalProvider`: a small provider whose answers a test shapes (ID token claims, the GitHub
  and GitLab user documents, outages, counting calls), for the refusals the dev provider
  never produces (wrong nonce or audience) and for the OAuth 2 provider types.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.peers import json_server
from tests.support.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


class DevProvider:
    def __init__(self, workdir: Path, token_max_age: int = 3600, latency_ms: int = 0,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.extra_args = extra_args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.token_max_age = token_max_age
        self.latency_ms = latency_ms
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [sys.executable, "-m", "gatehouse_dev.provider", "--host", "127.0.0.1", "--port", str(self.port),
                "--token-max-age", str(self.token_max_age), "--latency-ms", str(self.latency_ms), *self.extra_args]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=open(self.workdir / "provider.log", "ab"),
                                     stderr=subprocess.STDOUT)
        wait_until(lambda: urllib.request.urlopen(f"{self.url}/.well-known/openid-configuration", timeout=2).status == 200,
                   "oidc-provider-mock", 30)

    def stats(self) -> dict[str, int]:
        """Token-endpoint calls so far, per grant type."""
        with urllib.request.urlopen(f"{self.url}/_dev/stats", timeout=5) as answer:
            return dict(json.load(answer))

    def sessions(self) -> dict[str, list[str]]:
        """The provider sessions (`sid` of the ID tokens) per subject, oldest first."""
        with urllib.request.urlopen(f"{self.url}/_dev/sessions", timeout=5) as answer:
            return dict(json.load(answer))

    def sign(self, claims: dict[str, Any], typ: str = "JWT") -> str:
        """A JWT signed with the provider's own key (a back-channel logout token, say)."""
        request = urllib.request.Request(f"{self.url}/_dev/sign?typ={typ}", data=json.dumps(claims).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            return str(json.load(answer)["token"])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)


class LocalProvider:
    """OIDC discovery/JWKS/token/userinfo plus GitHub- and GitLab-shaped endpoints."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "local-1"
        self.id_claims: dict[str, Any] = {}  # overrides of the next ID tokens' claims
        self.id_header: dict[str, Any] = {}  # extra header parameters of the next ID tokens (crit, say)
        self.user_doc: dict[str, Any] = {"sub": "user-1", "name": "Local User", "email": "local@example.test"}
        self.token_status = 200
        self.up = True
        self.nonces: dict[str, str] = {}  # code -> nonce, as an authorization endpoint would remember
        self.calls: list[str] = []
        self.token_forms: list[dict[str, str]] = []  # every token request's form, in order
        self.expires_in = 300
        self.refresh_status = 200
        self.refresh_error = "invalid_grant"
        self.live_refresh: set[str] = set()  # refresh tokens not yet rotated away
        self.refreshes = 0
        self.server, self.url = json_server(self.answer)

    def jwks(self) -> dict[str, Any]:
        data = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        data.update(kid=self.kid, alg="RS256", use="sig")
        return {"keys": [data]}

    def code_for(self, authorize_url: str, code: str = "code-1") -> str:
        """What the provider's login page would do: remember the nonce, hand out a code."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(authorize_url).query)
        self.nonces[code] = query.get("nonce", [""])[0]
        return code

    def id_token(self, code: str) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "sub": self.user_doc.get("sub", "user-1"), "aud": "gatehouse-web",
                  "iat": now, "exp": now + 300, "nonce": self.nonces.get(code, ""),
                  "name": self.user_doc.get("name"), "email": self.user_doc.get("email"), **self.id_claims}
        return pyjwt.encode({k: v for k, v in claims.items() if v is not None}, self.key, algorithm="RS256",
                            headers={"kid": self.kid, **self.id_header})

    def answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        path = path.split("?")[0]
        self.calls.append(f"{method} {path}")
        if not self.up:
            return 503, {"error": "down"}
        if path == "/.well-known/openid-configuration":
            return 200, {"issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
                         "token_endpoint": f"{self.url}/token", "userinfo_endpoint": f"{self.url}/userinfo",
                         "jwks_uri": f"{self.url}/jwks", "end_session_endpoint": f"{self.url}/logout",
                         "id_token_signing_alg_values_supported": ["RS256"]}
        if path == "/jwks":
            return 200, self.jwks()
        if path in ("/token", "/login/oauth/access_token", "/oauth/token"):
            if self.token_status != 200:
                return self.token_status, {"error": "invalid_grant"}
            form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
            self.token_forms.append(form)
            if form.get("grant_type") == "refresh_token":
                return self.refresh(form.get("refresh_token", ""))
            code = form.get("code", "")
            answer = {"access_token": f"at-{code}", "token_type": "Bearer", "expires_in": self.expires_in,
                      "refresh_token": f"rt-{code}"}
            self.live_refresh.add(f"rt-{code}")
            if path == "/token":
                answer["id_token"] = self.id_token(code)
            return 200, answer
        if path in ("/userinfo", "/api/v3/user", "/api/v4/user"):
            if not (headers.get("Authorization") or "").startswith("Bearer at-"):
                return 401, {"error": "invalid_token"}
            return 200, self.user_doc
        return 404, {}

    def refresh(self, token: str) -> tuple[int, Any]:
        """Rotating refresh tokens: each works once and is replaced by a new one."""
        self.refreshes += 1
        if self.refresh_status != 200 or token not in self.live_refresh:
            if token not in self.live_refresh:
                return 400, {"error": "invalid_grant"}
            return self.refresh_status, {"error": self.refresh_error}
        self.live_refresh.discard(token)
        new = f"rt-r{self.refreshes}"
        self.live_refresh.add(new)
        return 200, {"access_token": f"at-r{self.refreshes}", "token_type": "Bearer",
                     "expires_in": self.expires_in, "refresh_token": new}

    def close(self) -> None:
        self.server.shutdown()
