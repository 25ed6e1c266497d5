"""Settings for the test suite: the production settings with test-only secrets and a fast hasher.

`DATABASE_URL` still comes from the environment, so the same suite runs on PostgreSQL and SQLite.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("JWT_SECRET_KEY", "test-only-jwt-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")

from config.settings import *  # noqa: F403

# SQLite tests use a file, not memory, so that concurrency tests get one connection per thread,
# as a real server would; one file per test process, so that parallel runs never share one.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(Path(tempfile.gettempdir()) / f"tasks-api-test-{os.getpid()}.sqlite3")
    }

# Jobs run at once, inside the test.
TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}

# The test client speaks plain HTTP; the HTTPS redirect has its own tests.
SECURE_SSL_REDIRECT = False

# Argon2 is tested on its own; everywhere else a fast hasher keeps the suite quick.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Process-local caches, whatever REDIS_URL says: tests clear caches between them, and must never
# flush a real Redis. Tests of the Redis-backed behaviour point at Redis themselves.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "test-cache"},
    "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "test-throttle"},
}

# The API speaks JSON: so do the test clients unless a test says otherwise.
REST_FRAMEWORK = {**REST_FRAMEWORK, "TEST_REQUEST_DEFAULT_FORMAT": "json"}  # noqa: F405
