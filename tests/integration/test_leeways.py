"""docs/security.md "Clock skew and leeway": each leeway the table states holds at its edge. A token
that expired a little less than the leeway ago is accepted, one that expired a little more ago
is refused; the leeways are read from the table, so the page and the code cannot drift apart."""
from __future__ import annotations

import re
import time
from pathlib import Path

import jwt as pyjwt
import pytest

from tests.integration.test_auth_check import auth_app, c, check, token  # noqa: F401 - fixtures
from tests.integration.test_external_issuer import LocalIssuer, make_app
from tests.integration.test_external_issuer import check as external_check
from tests.integration.test_login_backchannel import gh, login, logout_token, post  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]
MARGIN = 2  # seconds either side of the edge: a check here takes well under one


def documented(row_start: str, pattern: str) -> int:
    """The leeway the security page's table gives in the row starting with `row_start`."""
    page = (ROOT / "docs" / "security.md").read_text()
    section = page[page.index("## Clock skew and leeway"):]
    row = next(line for line in section.splitlines() if line.startswith(f"| {row_start}"))
    match = re.search(pattern, row)
    assert match, row
    return int(match.group(1))


def expired_ago(seconds: int) -> dict[str, int]:
    now = int(time.time())
    return {"exp": now - seconds, "iat": now - seconds - 60}


@pytest.mark.parametrize("inside", [True, False], ids=["inside", "outside"])
def test_own_tokens_at_auth(env, c, inside):  # noqa: F811 - the fixture
    """Gatehouse's own client-credentials JWT, re-signed with Gatehouse's key with an earlier `exp`."""
    leeway = documented("Gatehouse's own JWTs", r"\| (\d+) s, fixed")
    assert leeway == 5
    issued, _ = token(c, "tracks")
    claims = pyjwt.decode(issued, options={"verify_signature": False})
    claims.update(expired_ago(leeway - MARGIN if inside else leeway + MARGIN))
    key = Path(env["PRIVATE_RSA_KEY_FILE_PATH"]).read_bytes()
    late = pyjwt.encode(claims, key, algorithm="RS256", headers=pyjwt.get_unverified_header(issued))
    assert check(c, "/tracks/1", bearer=late).status_code == (204 if inside else 401)


@pytest.mark.parametrize("configured", [None, 10], ids=["default", "configured"])
@pytest.mark.parametrize("inside", [True, False], ids=["inside", "outside"])
def test_external_issuers_at_auth(env, tmp_path, configured, inside):
    """An external issuer's JWT: the entry's `leeway`, else the documented default."""
    leeway = configured or documented("external issuers' JWTs", r"default (\d+) s")
    assert configured is not None or leeway == 30
    issuer = LocalIssuer()
    try:
        client = make_app(env, tmp_path, issuer, leeway=configured).test_client()
        late = issuer.token(scope="tracks", **expired_ago(leeway - MARGIN if inside else leeway + MARGIN))
        assert external_check(client, "/tracks/1", late).status_code == (204 if inside else 401)
    finally:
        issuer.close()


@pytest.mark.parametrize("inside", [True, False], ids=["inside", "outside"])
def test_back_channel_logout_tokens(gh, dev_provider, inside):  # noqa: F811 - the fixture
    """A logout token signed by the development provider: accepted (the session ends) or refused."""
    leeway = documented("ID tokens", r"\| (\d+) s, fixed")
    assert leeway == 60
    _, client = gh
    login(client, dev_provider, "alice")
    late = logout_token(dev_provider, **expired_ago(leeway - MARGIN if inside else leeway + MARGIN))
    answer = post(client, late)
    assert answer.status_code == (200 if inside else 400), answer.json
