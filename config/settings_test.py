"""Settings for the test suite: the production settings with test-only secrets and a fast hasher.

`DATABASE_URL` still comes from the environment, so the same suite runs on PostgreSQL and SQLite.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("JWT_SECRET_KEY", "test-only-jwt-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")

from config.settings import *  # noqa: F403

# Argon2 is tested on its own; everywhere else a fast hasher keeps the suite quick.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
