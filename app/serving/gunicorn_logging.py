"""gunicorn's logger for Gatehouse (app/serving/gunicorn_conf.py's `logger_class`): no access lines
unless an operator asks for them, and then none that carries a credential — paths without their
query, credential-named headers and values redacted (docs/operations.md "What the logs hold").
"""
from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

REDACTED = "REDACTED"
# Header names that hold credentials whatever app/observability.py's name rule says of them.
CREDENTIAL_HEADERS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})


def _path_only(uri: str) -> str:
    """A URI for a log line: its path, with credential path parameters redacted (the query dropped)."""
    # The worker has imported the app (and so app.observability) by the time it answers a request;
    # the master, which builds this logger, must not import prometheus_client before
    # PROMETHEUS_MULTIPROC_DIR is set, nor the app's clients.
    from app.observability import redact_uri

    return redact_uri(uri.partition("?")[0])


class AccessLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    @property
    def access_log_enabled(self) -> bool:
        return self.cfg.accesslog is not None  # type: ignore[no-any-return]

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if self.cfg.accesslog is None:  # older gunicorn releases call this without asking the property
            return
        super().access(resp, req, environ, request_time)

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        from app.observability import credential_name

        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        atoms["r"] = f"{environ.get('REQUEST_METHOD')} {_path_only(environ.get('RAW_URI') or '')} " \
                     f"{environ.get('SERVER_PROTOCOL')}"
        atoms["U"] = _path_only(environ.get("PATH_INFO") or "")
        atoms["q"] = ""
        if environ.get("HTTP_REFERER"):
            atoms["f"] = _path_only(environ["HTTP_REFERER"])
        # request headers ({name}i), response headers ({name}o), environment ({name}e)
        for key in atoms:
            if not (key.startswith("{") and key[-2:] in ("}i", "}o", "}e")):
                continue
            name = key[1:-2].removeprefix("http_").replace("_", "-")
            if name == "query-string":
                atoms[key] = ""
            elif name in ("raw-uri", "request-uri", "path-info", "referer"):
                atoms[key] = _path_only(str(atoms[key]))
            elif name in CREDENTIAL_HEADERS or credential_name(name):
                atoms[key] = REDACTED
        return atoms
