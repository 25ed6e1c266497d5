# The two commands a newcomer needs: `make run` serves the API, `make test` checks everything.
# Both create .venv with the Python named in .python-version (through pyenv when it is there).

PYTHON_VERSION := $(shell cat .python-version)
PYTHON := $(shell command -v pyenv >/dev/null 2>&1 && pyenv root >/dev/null 2>&1 && test -x "$$(pyenv root)/versions/$(PYTHON_VERSION)/bin/python" && echo "$$(pyenv root)/versions/$(PYTHON_VERSION)/bin/python" || command -v python$(PYTHON_VERSION) || echo python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8001
DEMO_PORT ?= 3000

.PHONY: run demo test lint format typecheck check-containers check-kubernetes pytest bench scale-out fuzz scale load fault schema schema-check client install install-dev install-bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-base: requirements/base.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.installed-dev: requirements/base.txt requirements/dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/dev.txt
	touch $@ $(VENV)/.installed-base

# Locust, for make load and make scale-out only: make test's install stays lean.
$(VENV)/.installed-bench: requirements/base.txt requirements/dev.txt requirements/bench.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/bench.txt
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed-base

install: $(VENV)/.installed-base
install-dev: $(VENV)/.installed-dev
install-bench: $(VENV)/.installed-bench

## run: install, migrate, seed the admin and serve on http://localhost:8001 (DEBUG on, SQLite unless DATABASE_URL is set)
run: export DEBUG ?= true
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_admin
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py runserver 0.0.0.0:$(PORT)

## demo: the API (as make run) and the demo front end of examples/web/ on http://localhost:3000, allowed by CORS
demo: install
	@trap 'kill 0' INT TERM EXIT; \
	CORS_ALLOWED_ORIGINS=http://localhost:$(DEMO_PORT) FRONTEND_URL=http://localhost:$(DEMO_PORT) \
		$(MAKE) --no-print-directory run & \
	$(BIN)/python examples/web/serve.py --port $(DEMO_PORT) --api http://localhost:$(PORT)

## test: lint, format check, type check, the schema, container and Kubernetes checks, then the tests with coverage (at least 90%)
test: lint typecheck schema-check check-containers check-kubernetes pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install-dev
	$(BIN)/mypy .

## check-containers: docker compose config (alone and with compose.dev.yml) and hadolint; no Docker engine needed
check-containers: install-dev
	bash scripts/check-containers.sh

## check-kubernetes: kubectl kustomize of each overlay in deploy/kubernetes, validated strictly against the Kubernetes schema; no cluster needed
check-kubernetes: install-dev
	bash scripts/check-kubernetes.sh

pytest: install-dev
	$(BIN)/pytest -n auto --cov --cov-report=term $(PYTEST_ARGS)

## bench: throughput and latency under wrk (gunicorn, production settings, rate limits off) beside a bare-WSGI floor; about 7 minutes
bench: install-dev
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## fuzz: schemathesis on every operation, as a user and an admin, with many more examples than make test
fuzz: install-dev
	FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-200} FUZZ_DERANDOMIZE=0 $(BIN)/pytest -n auto -p no:cacheprovider tests/test_fuzz.py

## scale: list latency with 1,000 and with 1,000,000 tasks in the table (PostgreSQL on 127.0.0.1)
scale: install-dev
	$(BIN)/python bench/scale.py

## load: 64 Locust users for 60 s on a mixed workload against gunicorn (fresh database on 127.0.0.1:5432, rate limits off)
load: install-bench
	$(BIN)/python bench/load.py $(LOAD_ARGS)

## fault: on a throwaway PostgreSQL (port 5544): restart it, stop Redis, kill a job worker, lock a table, all under load; each scenario PASS or FAIL
fault: install-dev
	$(BIN)/python bench/fault.py $(FAULT_ARGS)

## scale-out: 3 gunicorn instances behind HAProxy, PgBouncer, one Redis; 64 clients for 60 s, one instance killed, one restarted gracefully
scale-out: install-bench
	$(BIN)/python bench/scale_out.py $(SCALE_OUT_ARGS)

## schema: regenerate the committed OpenAPI schema (openapi.yaml) from the code
schema: install-dev
	DEBUG=true $(BIN)/python manage.py spectacular --validate --fail-on-warn --file openapi.yaml

## schema-check: fail when openapi.yaml differs from what the code generates
schema-check: install-dev
	DEBUG=true $(BIN)/python manage.py spectacular --validate --fail-on-warn --file .openapi-generated.yaml
	diff -u openapi.yaml .openapi-generated.yaml && rm -f .openapi-generated.yaml || \
		(rm -f .openapi-generated.yaml; echo "openapi.yaml is out of date: run make schema and commit it"; exit 1)

## client: generate a typed Python client from openapi.yaml into ./tasks_api_client
client: install-dev
	$(BIN)/openapi-python-client generate --path openapi.yaml --config openapi-client.yaml \
		--output-path tasks_api_client --meta none --overwrite

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov staticfiles
