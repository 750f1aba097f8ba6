"""gunicorn's configuration for a checkout: `gunicorn -c gunicorn.conf.py wsgi:app`. The configuration
itself ships in the package (app/serving/gunicorn_conf.py), so an installed Gatehouse runs from any directory
with `gunicorn -c python:app.serving.gunicorn_conf app.serving.wsgi:app`."""
from app.serving.gunicorn_conf import *
