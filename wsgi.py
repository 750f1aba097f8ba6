"""WSGI entry point for a checkout: `gunicorn -c gunicorn.conf.py wsgi:app` (installed: `app.serving.wsgi:app`)."""
from app.serving.wsgi import app
