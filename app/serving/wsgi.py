"""WSGI entry point: `gunicorn -c python:app.serving.gunicorn_conf app.serving.wsgi:app` (from a checkout also
`gunicorn -c gunicorn.conf.py wsgi:app`)."""
import sys

from app import create_app
from app.settings import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    print("gatehouse: configuration refused:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  - {problem}", file=sys.stderr)
    raise SystemExit(2) from None
