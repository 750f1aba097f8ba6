"""What the views add to their answers: no caching for answers that carry tokens or one-time
values, the script pages that move a browser on after a provider's redirect, no framing for any
page, and the "Start over" link of a failed login's error page (app/errors.py renders it)."""
from __future__ import annotations

import secrets
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import g, render_template
from werkzeug.wrappers import Response

from .services import services

R = TypeVar("R", bound=Response)


def no_store(response: R) -> R:
    """Answers that carry tokens or one-time values are never cached (RFC 6749 §5.1)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def script_page(template: str, **context: Any) -> Response:
    """A page whose one inline script (carrying `nonce`) moves the browser on after a provider's
    redirect: the login callback and the BFF landing page. Only that script may run (CSP), it is
    never cached, and its URL (which holds the code) is never sent as a Referer."""
    nonce = secrets.token_urlsafe(16)
    response = no_store(Response(render_template(template, nonce=nonce, **context), mimetype="text/html"))
    # No form-action: browsers apply it to the redirect after the POST, which may go to an
    # allow-listed URL on another origin.
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; base-uri 'none'")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def deny_framing(response: R) -> R:
    """Every HTML page Gatehouse serves: never inside a frame of another page (clickjacking);
    CSP `frame-ancestors` for today's browsers, `X-Frame-Options` for older ones."""
    if response.mimetype == "text/html" and response.content_length != 0:  # not the check's empty answers
        response.headers["X-Frame-Options"] = "DENY"
        policy = response.headers.get("Content-Security-Policy")
        if not policy:
            response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        elif "frame-ancestors" not in policy:
            response.headers["Content-Security-Policy"] = f"{policy}; frame-ancestors 'none'"
    return response


def offer_start_over(app_id: str | None, target: str | None) -> None:
    """A login error page of this request links back to the sign-in page: the login's app and
    return target when known (the target already validated: never a value the request merely
    carries), else the default app's page."""
    query = urlencode({k: v for k, v in (("appId", app_id), ("redirect", target)) if v})
    g.start_over = f"{services().settings.service_prefix}/web-login" + (f"?{query}" if query else "")
