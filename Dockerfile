# syntax=docker/dockerfile:1
# The API image: gunicorn serving config.wsgi on port 8001, as a non-root user. The same image runs
# the one-shot migration, the job worker and the maintenance scheduler (see docker-compose.yml).
#
#   docker build -t tasks-api .
#   docker run --rm -p 8001:8001 -e SECRET_KEY=... -e JWT_SECRET_KEY=... \
#       -e DATABASE_URL=postgres://... -e ALLOWED_HOSTS=api.example.com tasks-api

# --- Builder: a virtual environment with the runtime dependencies only ---------------------------
FROM python:3.13-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN python -m venv /opt/venv

COPY requirements/base.txt /tmp/requirements/base.txt
# Wheels only: every runtime dependency, psycopg[binary] included, ships a manylinux wheel (x86_64
# and aarch64), so nothing is compiled here, and no compiler or build tool exists in either stage.
# pip compiles the bytecode of the installed packages now, as the runtime user cannot write it.
RUN /opt/venv/bin/pip install --no-cache-dir --only-binary=:all: -r /tmp/requirements/base.txt

# --- Final: the same base, the venv and the app source; nothing else ---------------------------
FROM python:3.13-slim-bookworm

LABEL org.opencontainers.image.title="tasks-api" \
      org.opencontainers.image.description="Tasks API: Django REST backend served by gunicorn"

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8001

# A system user with no home and no login shell; it owns nothing in the image, so the code, the
# virtual environment and the collected static files are read-only to the running app.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-log-init --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin app

WORKDIR /app

COPY --from=builder /opt/venv /opt/venv
COPY . .

# The source readable by all and writable by root only, whatever the umask of the checkout. Then
# the static files (admin, Swagger UI, Redoc) collected and compressed into /app/staticfiles, for
# WhiteNoise to serve. Importing the settings with DEBUG off needs secrets: these two are random,
# made for this command only, and never part of the image's environment.
RUN chmod -R a+rX,go-w /app \
    && DEBUG=false \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    JWT_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    python manage.py collectstatic --noinput --verbosity 1

# Numeric, so that the runtime (and Kubernetes' runAsNonRoot) can tell it is not root: 10001 is app.
USER 10001:10001

EXPOSE 8001

# /health/live touches neither the database nor the cache. The request carries the first entry of
# ALLOWED_HOSTS as its Host header (a bare 127.0.0.1 would be refused with 400 by a production
# ALLOWED_HOSTS such as api.example.com); /health/ is exempt from the HTTPS redirect.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; hosts = [h.strip().lstrip('.') for h in os.environ.get('ALLOWED_HOSTS', '').split(',')]; host = next((h for h in hosts if h and h != '*'), 'localhost'); u.urlopen(u.Request('http://127.0.0.1:' + os.environ.get('PORT', '8001') + '/health/live', headers={'Host': host}), timeout=4)"]

CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
