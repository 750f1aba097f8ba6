"""WSGI entry point for a checkout: `gunicorn -c gunicorn.conf.py wsgi:app` (installed: `app.wsgi:app`)."""
from app.wsgi import app  # noqa: F401
