"""Gatehouse: identity service behind nginx auth_request. `create_app` is the only factory."""
from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import errors, observability
from .auth_wsgi import LeanAuth
from .http import deny_framing
from .blueprints import (auth_check, bff, clients, discovery, explain, health, jwks, login, sessions, token,
                         tokeninfo, users)
from .services import Services, build_services
from .settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """Build the app from settings (default: environment + config file) and services."""
    settings = settings or load_settings()
    observability.configure_logging(settings.log_level)
    app = Flask(__name__, template_folder=str(ROOT / "templates"))
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, MAX_FORM_MEMORY_SIZE=settings.max_body_bytes)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if services is None:
        services = build_services(
            settings,
            on_auth_failure=lambda reason: observability.CLIENT_AUTH_FAILURES.labels(
                observability.failure_reason(reason)).inc(),
            on_issue=observability.token_issued)
    app.extensions["gatehouse"] = services
    observability.install(app, settings.metrics_dir)
    errors.install(app)
    app.after_request(deny_framing)
    if settings.bff is not None and services.bff_browser is not None:
        bff.install(app, services.bff_browser, settings.service_prefix, settings.bff.cookie_name,
                    settings.bff.session_lifetime)
    for module in (explain, auth_check, token, clients, users, tokeninfo, jwks, discovery, login, sessions, bff):
        app.register_blueprint(module.bp, url_prefix=settings.service_prefix or None)
    app.register_blueprint(health.bp)
    # /auth answered before Flask's request machinery (same answers as auth_check's view).
    decisions = app.extensions["gatehouse_decisions"] = observability.DecisionLog(settings.decision_log)
    app.wsgi_app = LeanAuth(app.wsgi_app, services, settings.service_prefix,  # type: ignore[method-assign]
                            decisions)
    if settings.trusted_proxy_count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_count)  # type: ignore[method-assign]
    return app
