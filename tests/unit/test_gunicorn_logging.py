"""gunicorn's access lines under Gatehouse's logger class (app/serving/gunicorn_logging.py): none unless an
operator asks for them, and then no query string or credential in any field a format can name."""
from __future__ import annotations

import datetime
import logging
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from app.serving.gunicorn_logging import AccessLogger

SECRET = "s3cr3t-Value-0123456789"
URI = f"/web-login/oauth/callback;jsessionid={SECRET}?code={SECRET}&state={SECRET}&redirect=/x"
ENVIRON = {"REQUEST_METHOD": "GET", "RAW_URI": URI, "PATH_INFO": f"/web-login/oauth/callback;jsessionid={SECRET}",
           "QUERY_STRING": URI.partition("?")[2], "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
           "REQUEST_URI": URI, "HTTP_COOKIE": f"sid={SECRET}", "HTTP_AUTHORIZATION": f"Bearer {SECRET}",
           "HTTP_REFERER": f"https://idp.example/login?state={SECRET}", "HTTP_USER_AGENT": "curl/8"}
REQUEST_HEADERS = [("COOKIE", f"sid={SECRET}"), ("AUTHORIZATION", f"Bearer {SECRET}"), ("CLIENT-KEY", SECRET),
                   ("SECRET", SECRET), ("REFERER", ENVIRON["HTTP_REFERER"]), ("USER-AGENT", "curl/8")]
RESPONSE = SimpleNamespace(status="200 OK", sent=12, headers=[("Set-Cookie", f"sid={SECRET}; HttpOnly"),
                                                            ("Content-Type", "text/html")])


def logger(accesslog: str | None, log_format: str) -> tuple[AccessLogger, list[logging.LogRecord]]:
    cfg = Config()
    # any logging configuration, as app/serving/gunicorn_conf.py's, turns gunicorn's own access lines on
    cfg.set("logconfig_dict", {"version": 1, "disable_existing_loggers": False})
    cfg.set("accesslog", accesslog)
    cfg.set("access_log_format", log_format)
    log = AccessLogger(cfg)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    log.access_log.addHandler(handler)
    return log, records


def line(log_format: str) -> str:
    log, records = logger("/dev/null", log_format)
    log.access(RESPONSE, SimpleNamespace(headers=REQUEST_HEADERS), dict(ENVIRON), datetime.timedelta(seconds=0.01))
    assert len(records) == 1
    return records[0].getMessage()


@pytest.mark.parametrize("field, written", [
    ("%(r)s", "GET /web-login/oauth/callback;jsessionid=REDACTED HTTP/1.1"),
    ("%(U)s", "/web-login/oauth/callback;jsessionid=REDACTED"),
    ("%(q)s", ""),
    ("%(f)s", "https://idp.example/login"),
    ("%(a)s", "curl/8"),
    ("%(s)s %(m)s %(H)s", "200 GET HTTP/1.1"),
    ("%({cookie}i)s", "REDACTED"),
    ("%({authorization}i)s", "REDACTED"),
    ("%({client-key}i)s", "REDACTED"),
    ("%({secret}i)s", "REDACTED"),
    ("%({referer}i)s", "https://idp.example/login"),
    ("%({user-agent}i)s", "curl/8"),
    ("%({set-cookie}o)s", "REDACTED"),
    ("%({content-type}o)s", "text/html"),
    ("%({http_cookie}e)s", "REDACTED"),
    ("%({http_authorization}e)s", "REDACTED"),
    ("%({raw_uri}e)s", "/web-login/oauth/callback;jsessionid=REDACTED"),
    ("%({request_uri}e)s", "/web-login/oauth/callback;jsessionid=REDACTED"),
    ("%({query_string}e)s", ""),
    ("%({http_user_agent}e)s", "curl/8"),
])
def test_an_access_line_asked_for_holds_no_credential(field, written):
    assert line(field) == written


def test_gunicorns_default_format_holds_no_credential():
    written = line(Config().access_log_format)
    assert SECRET not in written and '"GET /web-login/oauth/callback;jsessionid=REDACTED HTTP/1.1" 200 12' in written


def test_no_access_line_unless_asked_for():
    """A logging configuration alone turns gunicorn's access lines on; this logger keeps them off."""
    log, records = logger(None, Config().access_log_format)
    assert not log.access_log_enabled
    log.access(RESPONSE, SimpleNamespace(headers=REQUEST_HEADERS), dict(ENVIRON), datetime.timedelta(seconds=0.01))
    assert records == []
