"""Gatehouse: identity service behind nginx auth_request. `create_app` is the only factory."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from .services import Services
    from .settings import Settings


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """Build the app from settings (default: environment + config file) and services."""
    # Imported here, not at the top: importing app.settings (gunicorn.conf.py does, in the master)
    # must not import the web stack, the store clients or prometheus_client, whose multi-process
    # mode is chosen at import from the metrics directory the settings name.
    from flask import Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    from . import error_answers, observability
    from .auth_edge import AuthEdge
    from .blueprints import (bff, clients, discovery, explain, health, jwks, login, sessions, token,
                             tokeninfo, users)
    from .responses import deny_framing
    from .services import build_services
    from .settings import load_settings

    settings = settings or load_settings()
    observability.configure_logging(settings.log_level)
    app = Flask(__name__)  # templates: app/templates, shipped in the package
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
    error_answers.install(app)
    app.after_request(deny_framing)
    bff_config = services.composition.bff
    if bff_config is not None and services.bff_browser is not None:
        bff.install(app, services.bff_browser, settings.service_prefix, bff_config.cookie_name,
                    bff_config.session_lifetime)
    for module in (explain, token, clients, users, tokeninfo, jwks, discovery, login, sessions, bff):
        app.register_blueprint(module.bp, url_prefix=settings.service_prefix or None)
    # POST /oauth/token serves the browser login's completion too (a body with code and state).
    token.serve_also(app, sessions.is_login_completion, sessions.complete_login)
    app.register_blueprint(health.bp)
    # The /auth edge: the check answered before Flask's request machinery.
    app.wsgi_app = AuthEdge(app.wsgi_app, services, settings.service_prefix,  # type: ignore[method-assign]
                            observability.DecisionLog(settings.decision_log))
    if settings.trusted_proxy_count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_count)  # type: ignore[method-assign]
    return app
