"""WSGI entry point, served by gunicorn in production."""

import os

from django.core.wsgi import get_wsgi_application

from common.wsgi import ChunkedBodyMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = ChunkedBodyMiddleware(get_wsgi_application())

# Refuse to serve with an unsafe token setting (gunicorn preloads this module, so it fails at start).
from accounts.checks import verify_token_settings  # noqa: E402 (needs the app registry loaded above)

verify_token_settings()
