"""Settings for the whole project, read from the environment in one place.

Every variable read here is documented in `.env.example`. A `.env` file beside `manage.py` is read
when present; variables already set in the environment win over it.
"""

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from psycopg_pool import ConnectionPool

from config.dev_keys import development_keys

BASE_DIR = Path(__file__).resolve().parent.parent

# Secrets: with DEBUG off the app refuses to start on a missing, placeholder or short secret. With
# DEBUG on and none set, random keys are made once and kept in DEV_KEYS_FILE (ignored by git and
# docker): no key is written in the code, so no server signs with a key the public knows.
_MIN_SECRET_LENGTH = 50
_PLACEHOLDER_SECRETS = {"", "changeme", "secret", "dev-secret"}
DEV_KEYS_FILE = BASE_DIR / ".dev-keys.json"


def _is_placeholder(value: str) -> bool:
    lowered = value.lower()
    return lowered in _PLACEHOLDER_SECRETS or lowered.startswith(("change-me", "django-insecure"))


class _Env(environ.Env):
    """django-environ's reader over a copy of the environment: reading `.env` and dropping empty
    values never changes `os.environ`, which libraries and child processes see.

    Every variable is read by a call `env.<reader>("NAME", ...)` with its name written out:
    `config/variables.py` lists the documented variables from those calls. An empty value (as in a
    fresh copy of .env.example) means the default, except for a rate limit, where it means no limit.
    """

    ENVIRON = dict(os.environ)
    EMPTY: frozenset[str] = frozenset()

    @classmethod
    def load(cls, env_file: Path) -> "_Env":
        cls.read_env(env_file)  # fills the copy; variables already set win
        cls.EMPTY = frozenset(name for name, value in cls.ENVIRON.items() if value == "")
        cls.ENVIRON = {name: value for name, value in cls.ENVIRON.items() if value != ""}
        return cls()

    def rate(self, var: str, default: str) -> str | None:
        """A rate limit: `default` when unset, none (None) when set but empty."""
        return None if var in self.EMPTY else self.str(var, default=default)

    def secret(self, var: str, *, debug: bool) -> str:
        """A signing key: refused when DEBUG is off and it is missing, a placeholder or short."""
        value = self.str(var, default="")
        if debug:
            return value if not _is_placeholder(value) else development_keys(DEV_KEYS_FILE)[var]
        if _is_placeholder(value):
            raise ImproperlyConfigured(
                f"Set {var} to a random secret of at least {_MIN_SECRET_LENGTH} characters "
                f"when DEBUG is off (for example: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
            )
        if len(value) < _MIN_SECRET_LENGTH:
            raise ImproperlyConfigured(
                f"{var} is too short: use at least {_MIN_SECRET_LENGTH} random characters when DEBUG is off."
            )
        return value


env = _Env.load(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.secret("SECRET_KEY", debug=DEBUG)
JWT_SECRET_KEY = env.secret("JWT_SECRET_KEY", debug=DEBUG)
if not DEBUG and SECRET_KEY == JWT_SECRET_KEY:
    raise ImproperlyConfigured("Set JWT_SECRET_KEY to a different value from SECRET_KEY.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])

INSTALLED_APPS = [
    "accounts.apps.AdminConfig",  # Django's admin, with the login of accounts.admin_site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "corsheaders",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "common",
    "accounts",
    "tasks",
    # After `common`, whose `db_worker` (the library's, made to survive killed workers) wins.
    "django_tasks_db",
]

MIDDLEWARE = [
    "common.request_context.RequestContextMiddleware",
    "common.ratelimit.RateLimitHeadersMiddleware",
    "common.metrics.MetricsMiddleware",
    "common.middleware.NoStoreForAPIMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "common.middleware.JSONErrorsForAPIMiddleware",
    "common.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

# Database: SQLite is the embedded default; production and CI use PostgreSQL through psycopg 3.
DATABASE_STATEMENT_TIMEOUT_MS = env.int("DATABASE_STATEMENT_TIMEOUT_MS", default=5000)
DATABASE_LOCK_TIMEOUT_MS = env.int("DATABASE_LOCK_TIMEOUT_MS", default=2000)
# What the commands that work on the database on purpose for long use instead (PostgreSQL only;
# 0 means no limit): a migration may rewrite a big table, but must not queue long behind another
# transaction's lock, since every query on that table would then queue behind the migration;
# maintenance deletes in batches, which may take longer than a request's statement may.
DATABASE_COMMAND_TIMEOUTS_MS = {
    "migrate": {"statement_timeout": 0, "lock_timeout": 10_000},
    "maintenance": {"statement_timeout": 300_000, "lock_timeout": 10_000},
}
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers take the lock when their transaction starts and wait for it (rather than failing with
    # "database is locked" midway), and readers are not blocked by a writer (write-ahead log).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Fail fast when the database is unreachable: the request gets a 503 instead of hanging.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int("DATABASE_CONNECT_TIMEOUT", default=3)
# Behind PgBouncer in transaction mode each transaction may run on another server connection, so
# nothing may outlive a transaction there: no server-side cursor (a named cursor lives on one
# server connection across statements), no prepared statement (psycopg prepares a query it sees
# often, on one server connection), and no pool of our own (PgBouncer is the pool). Connections to
# PgBouncer are cheap and stay persistent. Connection math: see the README's scaling section.
DATABASE_PGBOUNCER = env.bool("DATABASE_PGBOUNCER", default=False)
_DATABASE_POOL = env.bool("DATABASE_POOL", default=False)
if DATABASE_PGBOUNCER:
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_PGBOUNCER=true needs a PostgreSQL DATABASE_URL (PgBouncer's address).")
    if _DATABASE_POOL:
        raise ImproperlyConfigured(
            "Set DATABASE_POOL=false with DATABASE_PGBOUNCER=true: PgBouncer pools the connections."
        )
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not DATABASE_PGBOUNCER:
    # No request holds a worker for as long as a lock lasts: a statement waiting on a lock longer
    # than the lock timeout, or running longer than the statement timeout, is stopped by PostgreSQL
    # (its transaction rolled back) and the request answers 503. Sent as startup options, so they
    # cost no statement. Commands that do long work on purpose set their own (DATABASE_COMMAND_TIMEOUTS_MS).
    # PgBouncer refuses startup options and a transaction pooler carries no session setting: behind
    # it, set them where it opens its server connections (its connect_query, or ALTER ROLE ... SET).
    DATABASES["default"]["OPTIONS"]["options"] = (
        f"-c statement_timeout={DATABASE_STATEMENT_TIMEOUT_MS} -c lock_timeout={DATABASE_LOCK_TIMEOUT_MS}"
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and _DATABASE_POOL:
    # psycopg's connection pool, one per process; connections are checked before being handed out.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=4),
        # How long a request waits for a pooled connection: short, so that an outage answers 503
        # at once instead of holding every worker.
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=1.0),
        "check": ConnectionPool.check_connection,
    }
else:
    # Persistent connections. A connection the server dropped (a restart) is replaced at the start of
    # the next request by common.db_connections, which looks at its socket: no SELECT 1 round trip
    # before every request, as Django's CONN_HEALTH_CHECKS would send.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Caches: Redis when REDIS_URL is set, process-local memory otherwise. Rate-limit counters live in
# their own cache ("throttle") so that clearing the default cache never resets a limit; with
# local memory they count per process only, so several workers need Redis. While Redis is
# unreachable (longer than REDIS_TIMEOUT_SECONDS) each process falls back to its own memory and
# tries Redis again every CACHE_RETRY_SECONDS (common/cache.py): the API keeps serving.
_REDIS_URL = env.str("REDIS_URL", default="")
_REDIS_TIMEOUT_SECONDS = env.float("REDIS_TIMEOUT_SECONDS", default=1.0)
_CACHE_RETRY_SECONDS = env.float("CACHE_RETRY_SECONDS", default=5.0)


def _cache(prefix: str) -> dict[str, Any]:
    if _REDIS_URL:
        return {
            "BACKEND": "common.cache.FallbackRedisCache",
            "LOCATION": _REDIS_URL,
            "KEY_PREFIX": prefix,
            "OPTIONS": {
                "RETRY_SECONDS": _CACHE_RETRY_SECONDS,
                "socket_connect_timeout": _REDIS_TIMEOUT_SECONDS,
                "socket_timeout": _REDIS_TIMEOUT_SECONDS,
            },
        }
    return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": prefix}


CACHES = {"default": _cache("cache"), "throttle": _cache("throttle")}

# Accounts and passwords.
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "accounts.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Argon2id's cost: each login (and password change) computes one hash and holds
# ARGON2_MEMORY_COST_KIB of memory while it does. The defaults are OWASP's first recommendation
# for Argon2id (46 MiB, one pass, one lane). See docs/performance.md for the cost per hash.
ARGON2_TIME_COST = env.int("ARGON2_TIME_COST", default=1)
ARGON2_MEMORY_COST_KIB = env.int("ARGON2_MEMORY_COST_KIB", default=47_104)
ARGON2_PARALLELISM = env.int("ARGON2_PARALLELISM", default=1)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ADMIN_EMAIL = env.str("ADMIN_EMAIL", default="admin@local.com")
ADMIN_PASSWORD = env.str("ADMIN_PASSWORD", default="admin123456" if DEBUG else "")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files (admin, API docs) are served by the app itself through WhiteNoise. Files are found
# in the installed apps as well as in STATIC_ROOT, so the admin is styled even before collectstatic.
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# HTTPS and browser security. Each can be overridden by the variable of the same name; with DEBUG
# off the secure value is the default. Behind a load balancer that terminates TLS, set
# SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https so Django knows the original scheme.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers and container health checks probe over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if len(_proxy_ssl_header) == 2 else None
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = env.bool("SESSION_COOKIE_HTTPONLY", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_HTTPONLY = env.bool("CSRF_COOKIE_HTTPONLY", default=True)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (Django's own) for the HTML the app serves: the admin and the API docs.
# Scripts only from the app, inline ones only with the per-response nonce; the docs' UI libraries
# set inline styles, which are allowed.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "worker-src": [CSP.SELF, "blob:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# Cross-origin requests to the API from the browser origins listed (e.g. a web front end).
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
# Request headers a browser may send, and response headers its scripts may read: every header of
# the contract (conditional requests, idempotent creates, rate limits; see the README).
CORS_ALLOW_HEADERS = (
    "authorization",
    "content-type",
    "x-request-id",
    "if-match",
    "if-none-match",
    "idempotency-key",
    "x-token-transport",
)
# The refresh cookie is sent with credentialed requests, from the origins listed only.
CORS_ALLOW_CREDENTIALS = True
CORS_EXPOSE_HEADERS = (
    "retry-after",
    "x-request-id",
    "etag",
    "idempotent-replayed",
    "ratelimit",
    "ratelimit-policy",
)

# Conditional writes: with REQUIRE_IF_MATCH on, changing or deleting a task without `If-Match`
# answers 428, so that no client can overwrite a change it has not seen.
REQUIRE_IF_MATCH = env.bool("REQUIRE_IF_MATCH", default=False)
# How long the answer to a create sent with an `Idempotency-Key` is kept for replays.
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)

# Request bodies: anything larger is refused with 413 before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

# REST framework.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["common.renderers.FastJSONRenderer"],
    # JSON only; the login endpoint also takes the earlier template's form bodies.
    "DEFAULT_PARSER_CLASSES": ["common.parsers.StrictJSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "common.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "common.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "common.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["common.throttling.AnonRateThrottle", "common.throttling.UserRateThrottle"],
}

# JSON Web Tokens: signed with their own key, algorithm pinned.
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SECRET_KEY,
    "VERIFYING_KEY": None,
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("ACCESS_TOKEN_LIFETIME_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("REFRESH_TOKEN_LIFETIME_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "JTI_CLAIM": "jti",
    "ISSUER": env.str("JWT_ISSUER", default="tasks-api"),
    "AUDIENCE": env.str("JWT_AUDIENCE", default="tasks-api"),
    # Seconds of clock skew tolerated on `exp`; at most a few.
    "LEEWAY": env.int("JWT_LEEWAY_SECONDS", default=2),  # at most 5: `accounts.checks` refuses more
}
# A session (refresh-token family) ends this long after the login that started it, however often
# it is refreshed: a stolen refresh token cannot be kept alive for ever.
REFRESH_SESSION_MAX_LIFETIME = timedelta(days=env.int("REFRESH_SESSION_MAX_DAYS", default=30))

# Rate limits ("<count>/<second|minute|hour|day>"). Unset: the default; set but empty: no limit.
# The client address is the socket's, unless TRUSTED_PROXY_COUNT proxies in front of the app
# append to X-Forwarded-For: then it is the address the outermost trusted proxy saw.
THROTTLE_RATES = {
    "login_failures": env.rate("THROTTLE_LOGIN_FAILURES", "10/min"),
    "login_failures_per_address": env.rate("THROTTLE_LOGIN_FAILURES_PER_ADDRESS", "50/min"),
    "refresh": env.rate("THROTTLE_REFRESH", "60/min"),
    "password_reset": env.rate("THROTTLE_PASSWORD_RESET", "5/hour"),
    "signup": env.rate("THROTTLE_SIGNUP", "10/hour"),
    "verification_resend": env.rate("THROTTLE_VERIFICATION_RESEND", "5/hour"),
    "password_reset_per_email": env.rate("THROTTLE_PASSWORD_RESET_PER_EMAIL", "3/hour"),
    "anon": env.rate("THROTTLE_ANON", "600/min"),
    "user": env.rate("THROTTLE_USER", "3000/min"),
}
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Links in mails point at the web front end, never at whatever Host header a request carried:
# FRONTEND_URL followed by /verify-email, /confirm-email or /reset-password, with ?uid=&token=.
FRONTEND_URL = env.str("FRONTEND_URL", default="http://localhost:3000").rstrip("/")
# The address clients reach the API at, e.g. https://api.example.com: when set, absolute URLs in
# answers (pagination links) are built from it, never from the request's Host header.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="").rstrip("/")

# Password reset: the emailed link is PASSWORD_RESET_URL with {uid} and {token} filled in, for the
# client application's page, which posts them to /api/v1/auth/password-reset/confirm.
PASSWORD_RESET_URL = env.str("PASSWORD_RESET_URL", default=FRONTEND_URL + "/reset-password?uid={uid}&token={token}")
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT_SECONDS", default=60 * 60)

# Self-service accounts. Sign-up on by default (off: its endpoints answer 404); a verification or
# email-change link works once, for EMAIL_VERIFICATION_TIMEOUT seconds; a deleted account is
# deactivated at once and erased by the maintenance job after ACCOUNT_DELETION_GRACE_DAYS.
SIGNUP_ENABLED = env.bool("SIGNUP_ENABLED", default=True)
EMAIL_VERIFICATION_TIMEOUT = env.int("EMAIL_VERIFICATION_TIMEOUT_SECONDS", default=3 * 24 * 60 * 60)
ACCOUNT_DELETION_GRACE_DAYS = env.int("ACCOUNT_DELETION_GRACE_DAYS", default=30)

# The refresh token as a cookie, for web front ends that ask for it (`X-Token-Transport: cookie`):
# HttpOnly, scoped to the auth endpoints, Secure unless DEBUG (browsers treat http://localhost as
# secure anyway).
REFRESH_COOKIE_SAMESITE = env.str("REFRESH_COOKIE_SAMESITE", default="Strict")
if REFRESH_COOKIE_SAMESITE not in ("Strict", "Lax", "None"):
    raise ImproperlyConfigured("REFRESH_COOKIE_SAMESITE must be Strict, Lax or None.")
REFRESH_COOKIE_SECURE = not DEBUG

# Email: printed to the console unless EMAIL_URL names an SMTP server
# (smtp+tls://user:password@host:587, smtp+ssl://...:465).
_EMAIL = env.email_url("EMAIL_URL", default="consolemail://")
_SMTP_OPTIONS = {
    "host": _EMAIL.get("EMAIL_HOST"),
    "port": _EMAIL.get("EMAIL_PORT"),
    "username": _EMAIL.get("EMAIL_HOST_USER"),
    "password": _EMAIL.get("EMAIL_HOST_PASSWORD"),
    "use_tls": _EMAIL.get("EMAIL_USE_TLS"),
    "use_ssl": _EMAIL.get("EMAIL_USE_SSL"),
}
# With DEBUG on and no SMTP server, mail is printed readably (links copyable), see common/mail.py;
# with DEBUG off the console stays Django's own, which `check --deploy` refuses.
_CONSOLE_BACKENDS = {"django.core.mail.backends.console.EmailBackend": "common.mail.ReadableConsoleBackend"}
MAILERS = {
    "default": {
        "BACKEND": _CONSOLE_BACKENDS.get(_EMAIL["EMAIL_BACKEND"], _EMAIL["EMAIL_BACKEND"])
        if DEBUG
        else _EMAIL["EMAIL_BACKEND"],
        "OPTIONS": (
            {key: value for key, value in _SMTP_OPTIONS.items() if value not in (None, "")} | {"timeout": 10}
            if _EMAIL["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
            else {}
        ),
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Tasks API <noreply@localhost>")

# Background jobs (django.tasks): "database" queues them in the database for `manage.py db_worker`
# (django-tasks-db); "immediate" runs them in the request's process (the default with DEBUG on, so
# `make run` needs no worker). Failed jobs are recorded and shown in the admin.
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "immediate": "django.tasks.backends.immediate.ImmediateBackend",
}
TASK_BACKEND = env.str("TASK_BACKEND", default="immediate" if DEBUG else "database")
if TASK_BACKEND not in _TASK_BACKENDS:
    raise ImproperlyConfigured(f"TASK_BACKEND must be one of {', '.join(_TASK_BACKENDS)}, not {TASK_BACKEND!r}.")
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[TASK_BACKEND]}}
# How often `manage.py schedule_maintenance` queues the maintenance job, and how long finished job
# results are kept.
MAINTENANCE_INTERVAL_SECONDS = env.int("MAINTENANCE_INTERVAL_SECONDS", default=3600)
TASK_RESULT_RETENTION_DAYS = env.int("TASK_RESULT_RETENTION_DAYS", default=7)
# A job is stopped (and marked failed) after JOB_MAX_RUN_SECONDS; one still RUNNING after
# JOB_STALE_AFTER_SECONDS has lost its worker and is run again (common/job_recovery.py). Stale
# must be longer than the longest run, or a live job could be started a second time.
JOB_MAX_RUN_SECONDS = env.int("JOB_MAX_RUN_SECONDS", default=300)
JOB_STALE_AFTER_SECONDS = env.int("JOB_STALE_AFTER_SECONDS", default=600)
if JOB_STALE_AFTER_SECONDS <= JOB_MAX_RUN_SECONDS:
    raise ImproperlyConfigured(
        f"JOB_STALE_AFTER_SECONDS ({JOB_STALE_AFTER_SECONDS}) must be longer than JOB_MAX_RUN_SECONDS "
        f"({JOB_MAX_RUN_SECONDS}): a job still running after it is taken for one whose worker died."
    )

# Metrics: Prometheus text at /metrics, only when METRICS_TOKEN is set, and only for requests that
# send it as a bearer token. Under gunicorn, set PROMETHEUS_MULTIPROC_DIR to a writable directory
# so that the figures of every worker are added up.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# From the process's environment, not `.env`: prometheus_client (and gunicorn's config) read it there.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")

# Error reporting to Sentry when SENTRY_DSN is set: no personal data, request body or local
# variable is sent, and every report is scrubbed of secrets (common/sentry.py).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from common.sentry import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

# API documentation.
SPECTACULAR_SETTINGS = {
    "TITLE": "Tasks API",
    "DESCRIPTION": (
        "Accounts with JWT login and roles, and tasks owned by users. Log in at "
        "`/api/v1/auth/login`, then send `Authorization: Bearer <access_token>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # No validator badge: Swagger UI would fetch it from a third-party host.
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "validatorUrl": None},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "common.openapi.drop_empty_security",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "accounts.models.Role",
        "TaskStatusEnum": "tasks.models.TaskStatus",
    },
}

# Logging: to stdout, so the process manager or container runtime collects it.
# JSON lines in production, readable text with DEBUG on; every line carries the request id.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_context": {"()": "common.request_context.RequestContextFilter"},
        # A 503 (the database is unreachable) is logged once, as a warning, by the app itself.
        "not_503": {
            "()": "django.utils.log.CallbackFilter",
            "callback": lambda record: getattr(record, "status_code", None) != 503,
        },
        "one_line_warning": {"()": "common.logging.OneLineWarning"},
    },
    "formatters": {
        "json": {"()": "common.logging.JSONFormatter"},
        "text": {"()": "common.logging.TextFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "text" if DEBUG else "json",
            "filters": ["request_context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"level": "ERROR", "filters": ["not_503"]},
        # Anyone can send a bad Host header: one warning line each, no traceback.
        "django.security.DisallowedHost": {"filters": ["one_line_warning"]},
    },
}
