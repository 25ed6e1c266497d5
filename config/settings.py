"""Settings for the whole project, read from the environment in one place.

Every variable read here is documented in `.env.example`. A `.env` file beside `manage.py` is read
when present; variables already set in the environment win over it.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")
# Every variable this module reads. An empty one (as in a fresh copy of .env.example) means
# "use the default".
VARIABLES = (
    "DEBUG",
    "SECRET_KEY",
    "JWT_SECRET_KEY",
    "DATABASE_URL",
    "CONN_MAX_AGE",
    "ALLOWED_HOSTS",
    "ACCESS_TOKEN_LIFETIME_MINUTES",
    "REFRESH_TOKEN_LIFETIME_DAYS",
    "REDIS_URL",
    "ADMIN_EMAIL",
    "ADMIN_PASSWORD",
    "DATA_UPLOAD_MAX_MEMORY_SIZE",
    "LOG_LEVEL",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_LEEWAY_SECONDS",
    "TRUSTED_PROXY_COUNT",
    "PASSWORD_RESET_URL",
    "PASSWORD_RESET_TIMEOUT_SECONDS",
    "EMAIL_URL",
    "DEFAULT_FROM_EMAIL",
)
# Read separately because for them an empty value means "no limit", not "the default".
THROTTLE_VARIABLES = (
    "THROTTLE_LOGIN_FAILURES",
    "THROTTLE_LOGIN_FAILURES_PER_ADDRESS",
    "THROTTLE_REFRESH",
    "THROTTLE_PASSWORD_RESET",
    "THROTTLE_ANON",
    "THROTTLE_USER",
)
for _name in VARIABLES:
    if env.ENVIRON.get(_name) == "":
        del env.ENVIRON[_name]

DEBUG = env.bool("DEBUG", default=False)

# Secrets: with DEBUG off the app refuses to start on a missing, placeholder or short secret.
_MIN_SECRET_LENGTH = 32
_PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev-secret"}


def _secret(name: str, debug_default: str) -> str:
    value = env.str(name, default="")
    if DEBUG:
        return value or debug_default
    if value.lower() in _PLACEHOLDER_SECRETS or value.startswith("django-insecure"):
        raise ImproperlyConfigured(
            f"Set {name} to a random secret of at least {_MIN_SECRET_LENGTH} characters "
            f"when DEBUG is off (for example: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    if len(value) < _MIN_SECRET_LENGTH:
        raise ImproperlyConfigured(
            f"{name} is too short: use at least {_MIN_SECRET_LENGTH} random characters when DEBUG is off."
        )
    return value


SECRET_KEY = _secret("SECRET_KEY", "django-insecure-development-only-secret-key-do-not-deploy")
JWT_SECRET_KEY = _secret("JWT_SECRET_KEY", "insecure-development-only-jwt-signing-key-do-not-deploy")
if not DEBUG and SECRET_KEY == JWT_SECRET_KEY:
    raise ImproperlyConfigured("Set JWT_SECRET_KEY to a different value from SECRET_KEY.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "common",
    "accounts",
    "tasks",
]

MIDDLEWARE = [
    "common.request_context.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
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
            ],
        },
    },
]

# Database: SQLite is the embedded default; production and CI use PostgreSQL through psycopg 3.
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
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Caches: Redis when REDIS_URL is set, process-local memory otherwise. Rate-limit counters live in
# their own cache ("throttle") so that clearing the default cache never resets a limit; with
# local memory they count per process only, so several workers need Redis.
_REDIS_URL = env.str("REDIS_URL", default="")


def _cache(prefix: str) -> dict[str, str]:
    if _REDIS_URL:
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _REDIS_URL, "KEY_PREFIX": prefix}
    return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": prefix}


CACHES = {"default": _cache("cache"), "throttle": _cache("throttle")}

# Accounts and passwords.
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
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

# Request bodies: anything larger is refused with 413 before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

# REST framework.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["common.renderers.FastJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "common.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
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
    "LEEWAY": min(env.int("JWT_LEEWAY_SECONDS", default=2), 5),
}

# Rate limits ("<count>/<second|minute|hour|day>"). Unset: the default; set but empty: no limit.
# The client address is the socket's, unless TRUSTED_PROXY_COUNT proxies in front of the app
# append to X-Forwarded-For: then it is the address the outermost trusted proxy saw.
THROTTLE_RATES = {
    scope: (env.str(variable) or None) if variable in env.ENVIRON else default
    for scope, variable, default in (
        ("login_failures", "THROTTLE_LOGIN_FAILURES", "10/min"),
        ("login_failures_per_address", "THROTTLE_LOGIN_FAILURES_PER_ADDRESS", "50/min"),
        ("refresh", "THROTTLE_REFRESH", "60/min"),
        ("password_reset", "THROTTLE_PASSWORD_RESET", "5/hour"),
        ("anon", "THROTTLE_ANON", "600/min"),
        ("user", "THROTTLE_USER", "3000/min"),
    )
}
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Password reset: the emailed link is PASSWORD_RESET_URL with {uid} and {token} filled in, for the
# client application's page, which posts them to /api/v1/auth/password-reset/confirm.
PASSWORD_RESET_URL = env.str(
    "PASSWORD_RESET_URL", default="http://localhost:8001/reset-password?uid={uid}&token={token}"
)
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT_SECONDS", default=60 * 60)

# Email: printed to the console unless EMAIL_URL names an SMTP server
# (smtp+tls://user:password@host:587, smtp+ssl://...:465).
_EMAIL = env.email_url_config(env.str("EMAIL_URL", default="consolemail://"))
_SMTP_OPTIONS = {
    "host": _EMAIL.get("EMAIL_HOST"),
    "port": _EMAIL.get("EMAIL_PORT"),
    "username": _EMAIL.get("EMAIL_HOST_USER"),
    "password": _EMAIL.get("EMAIL_HOST_PASSWORD"),
    "use_tls": _EMAIL.get("EMAIL_USE_TLS"),
    "use_ssl": _EMAIL.get("EMAIL_USE_SSL"),
}
MAILERS = {
    "default": {
        "BACKEND": _EMAIL["EMAIL_BACKEND"],
        "OPTIONS": (
            {key: value for key, value in _SMTP_OPTIONS.items() if value not in (None, "")} | {"timeout": 10}
            if _EMAIL["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
            else {}
        ),
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Tasks API <noreply@localhost>")

# Background jobs: run at once in the request's process until a worker backend is configured.
TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}

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
    "filters": {"request_context": {"()": "common.request_context.RequestContextFilter"}},
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
    "loggers": {"django.request": {"level": "ERROR"}},
}
