"""Identity providers for the login tests, all real HTTP servers on loopback:

* `DevProvider`: the development OIDC provider (`oidc-provider-mock` from PyPI) as a child
  process, with demo users; used for the happy paths and the browser tests.
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

from app.dev import DEMO_USERS
from tests.peers import json_server
from tests.servers import free_port, wait_until

BIN = Path(sys.executable).parent


class DevProvider:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [str(BIN / "oidc-provider-mock"), "--host", "127.0.0.1", "--port", str(self.port),
                "--require-nonce", "true"]
        for user in DEMO_USERS:
            args += ["--user-claims", json.dumps(user)]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(args, stdout=open(self.workdir / "provider.log", "ab"),
                                     stderr=subprocess.STDOUT)
        wait_until(lambda: urllib.request.urlopen(f"{self.url}/.well-known/openid-configuration", timeout=2).status == 200,
                   "oidc-provider-mock", 30)

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
        self.user_doc: dict[str, Any] = {"sub": "user-1", "name": "Local User", "email": "local@example.test"}
        self.token_status = 200
        self.up = True
        self.nonces: dict[str, str] = {}  # code -> nonce, as an authorization endpoint would remember
        self.calls: list[str] = []
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
                            headers={"kid": self.kid})

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
            form = urllib.parse.parse_qs(body.decode())
            code = form.get("code", [""])[0]
            answer = {"access_token": f"at-{code}", "token_type": "Bearer", "expires_in": 300}
            if path == "/token":
                answer["id_token"] = self.id_token(code)
            return 200, answer
        if path in ("/userinfo", "/api/v3/user", "/api/v4/user"):
            if not (headers.get("Authorization") or "").startswith("Bearer at-"):
                return 401, {"error": "invalid_token"}
            return 200, self.user_doc
        return 404, {}

    def close(self) -> None:
        self.server.shutdown()
