"""`apps` configuration: every problem stops start-up with its path; secrets never printed."""
from __future__ import annotations

import copy

import pytest

from app.services import compose
from app.settings import ConfigError, load_settings
from tests.conftest import login_app, with_apps

GOOD = login_app("https://idp.example.test")


def broken(change):
    app = copy.deepcopy(GOOD)
    change(app)
    return app


BAD_APPS = [
    ("unknown type", broken(lambda a: a["providers"]["dev"].update(type="saml")), "apps.web.providers.dev.type"),
    ("no client id", broken(lambda a: a["providers"]["dev"].pop("clientId")), "apps.web.providers.dev.clientId"),
    ("oidc without discovery", broken(lambda a: a["providers"]["dev"].pop("discoveryUrl")),
     "apps.web.providers.dev.discoveryUrl: an oidc provider needs discoveryUrl or baseUrl"),
    ("generic without urls", broken(lambda a: a["providers"]["dev"].update(type="generic")),
     "apps.web.providers.dev.authUrl"),
    ("no providers", broken(lambda a: a.update(providers={})), "apps.web.providers"),
    ("bad redirectUrl", broken(lambda a: a.update(redirectUrl="not a url")), "apps.web.redirectUrl"),
    ("open default redirect", broken(lambda a: a.update(defaultRedirectUrlOnSuccessfulLogin="//evil.example")),
     "apps.web.defaultRedirectUrlOnSuccessfulLogin"),
    ("bad sameSite", broken(lambda a: a.update(cookie={"sameSite": "Loose"})), "apps.web.cookie.sameSite"),
    ("unknown key", broken(lambda a: a.update(colour="blue")), "apps.web.colour"),
    ("bad scope", broken(lambda a: a["providers"]["dev"].update(scope=[1])), "apps.web.providers.dev.scope"),
]


@pytest.mark.parametrize("name,app,where", BAD_APPS, ids=[b[0] for b in BAD_APPS])
def test_bad_apps_stop_start_up(env, tmp_path, name, app, where):
    with pytest.raises(ConfigError) as info:
        load_settings(with_apps(env, tmp_path, {"web": app}))
    text = "\n".join(info.value.problems)
    assert where in text
    assert "web-secret" not in text


@pytest.mark.parametrize("key,message", [
    ("", "PROVIDER_TOKEN_KEY"), ("short", "must be a Fernet key"),
])
def test_provider_token_key(env, tmp_path, key, message):
    settings_env = {**with_apps(env, tmp_path, {"web": GOOD}), "PROVIDER_TOKEN_KEY": key}
    with pytest.raises(ConfigError) as info:
        load_settings(settings_env)
    assert any(message in p for p in info.value.problems)
    assert key == "" or key not in "\n".join(info.value.problems)


def test_default_app_must_exist(env, tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings({**with_apps(env, tmp_path, {"web": GOOD}), "DEFAULT_APP_ID": "nope"})
    assert info.value.problems == ["DEFAULT_APP_ID: must name one of the configured apps"]


def test_single_app_is_the_default(env, tmp_path):
    settings = load_settings(with_apps(env, tmp_path, {"web": GOOD}))
    assert settings.default_app_id == "web"
    assert compose(settings).apps["web"].providers["dev"].client_secret == "web-secret"
    assert "web-secret" not in repr(settings)
