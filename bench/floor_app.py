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
