"""gunicorn's configuration for a checkout: `gunicorn -c gunicorn.conf.py wsgi:app`. The configuration
itself ships in the package (app/gunicorn_conf.py), so an installed Gatehouse runs from any directory
with `gunicorn -c python:app.gunicorn_conf app.wsgi:app`."""
from app.gunicorn_conf import *  # noqa: F401,F403 - gunicorn reads its settings and hooks by name
