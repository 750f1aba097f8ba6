"""The benchmark's floor: a Flask view that does nothing and answers 204 with an empty body,
served under the same gunicorn settings as Gatehouse (`gunicorn -c gunicorn.conf.py
bench.floor_app:app`). What the framework alone costs per auth subrequest."""
from flask import Flask, Response

app = Flask(__name__)


@app.route("/auth", methods=["GET", "HEAD", "POST"])
def check() -> Response:
    return Response(b"", status=204)


def bare(environ, start_response):  # type: ignore[no-untyped-def]
    """For the profile only: a WSGI callable with no framework at all."""
    start_response("204 NO CONTENT", [("Content-Type", "text/html; charset=utf-8")])
    return [b""]


IDENTITY = [("mia-allowed", "1"), ("miauserid", "bench-client-0123456789"), ("miausergroups", ""),
            ("miauserproperties", "{}"), ("Content-Type", "text/html; charset=utf-8")]


def identity(environ, start_response):  # type: ignore[no-untyped-def]
    """For the server table: a WSGI callable answering what an allowed check answers (the identity
    headers and the request id) without deciding anything: the server's and nginx's cost of
    Gatehouse's answer, apart from the check itself."""
    start_response("204 NO CONTENT", [*IDENTITY, ("X-Request-Id", environ.get("HTTP_X_REQUEST_ID", ""))])
    return [b""]
