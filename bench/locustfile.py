"""Locust's simulated users for `make load` and `make scale-out` (bench/README.md): each keeps one
seeded account's session and sends `bench.load.MIX` without pause. BENCH_STARTED gets the time every
user runs; BENCH_JOURNAL, at the end, every request and each written task's last acknowledged state.
"""

from __future__ import annotations

import csv
import json
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, events, task
from locust.env import Environment
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from bench.load import EXPECTED_STATUS, FILTERS, MIX, PASSWORD

_free_accounts: list[dict[str, str]] = json.loads(Path(os.environ["BENCH_ACCOUNTS"]).read_text())
_requests: list[tuple[str, str, str, float, float, int | None]] = []  # id, kind, method, start, end, status
# Task id -> (title, status) as last acknowledged, None once deleted. A task whose last write got no
# expected answer is left out: that write may or may not have been applied. (Users write only their own tasks.)
_acknowledged: dict[int, tuple[str, str] | None] = {}


class ApiUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        account = _free_accounts.pop()
        self.email, self.access, self.refresh_token = account["email"], account["access"], account["refresh"]
        self.rng = random.Random(self.email)
        self.task_ids: list[int] = []  # seeded or created: to update
        self.created_ids: list[int] = []  # created and not yet deleted: to delete

    def send(self, kind: str, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        """One request, named by its kind in Locust's statistics and journaled by its X-Request-ID (new unless
        `headers` has one); its response, or None."""
        headers = {"X-Request-ID": uuid.uuid4().hex, **(headers or {})}
        started = time.time()
        with self.client.request(method, path, name=kind, headers=headers, catch_response=True, **kwargs) as response:
            status = response.status_code or None
            if status is None:
                response.failure(f"no answer: {response.error!r}")
            elif status != EXPECTED_STATUS.get(kind, 200):
                response.failure(f"status {status}")
            else:
                response.success()
        _requests.append((headers["X-Request-ID"], kind, method, started, time.time(), status))
        return response if status else None

    def api(self, kind: str, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        """With the access token; a 401 (the session ended) logs in again."""
        headers = {"Authorization": f"Bearer {self.access}", **(headers or {})}
        response = self.send(kind, method, f"/api/v1/{path}", headers=headers, **kwargs)
        if response is not None and response.status_code == 401:
            self.login()
        return response

    def take_pair(self, response: Any) -> None:
        if response is not None and response.status_code == 200:
            body = response.json()
            self.access, self.refresh_token = body["access_token"], body["refresh_token"]

    @task(MIX["login"])
    def login(self) -> None:
        """A new session; the old one is abandoned, as a client that logs in again does."""
        form = f"username={self.email}&password={PASSWORD}"
        content_type = {"Content-Type": "application/x-www-form-urlencoded"}
        self.take_pair(self.send("login", "POST", "/api/v1/auth/login", headers=content_type, data=form))

    @task(MIX["refresh"])
    def refresh(self) -> None:
        """Rotate the refresh token. With the answer lost the rotation may have happened, and presenting
        the old token again would end the session: log in instead."""
        response = self.send("refresh", "POST", "/api/v1/auth/refresh", json={"refresh_token": self.refresh_token})
        if response is None or response.status_code >= 500:
            self.login()
        else:
            self.take_pair(response)

    @task(MIX["me"])
    def me(self) -> None:
        self.api("me", "GET", "users/me")

    @task(MIX["list"])
    def list_tasks(self) -> None:
        """The first page, newest first; its ids are kept for updates."""
        response = self.api("list", "GET", "tasks/")
        if response is not None and response.status_code == 200 and not self.task_ids:
            self.task_ids = [item["id"] for item in response.json()["results"]]

    @task(MIX["list_filtered"])
    def list_filtered(self) -> None:
        self.api("list_filtered", "GET", "tasks/?" + self.rng.choice(FILTERS))

    @task(MIX["create"])
    def create(self) -> None:
        """Titled `load <request id>`: a create answered with an error can still be looked for afterwards."""
        request_id = uuid.uuid4().hex
        body = {
            "title": f"load {request_id}",
            "description": "created by bench/locustfile.py",
            "priority": self.rng.choice(("low", "medium", "high")),
            "due_date": f"2030-{self.rng.randint(1, 12):02d}-01",
        }
        response = self.api("create", "POST", "tasks/", headers={"X-Request-ID": request_id}, json=body)
        if response is not None and response.status_code == 201:
            created = response.json()
            _acknowledged[created["id"]] = (created["title"], created["status"])
            self.created_ids.append(created["id"])
            self.task_ids.append(created["id"])

    @task(MIX["update"])
    def update(self) -> None:
        if not self.task_ids:
            self.list_tasks()
            return
        task_id = self.rng.choice(self.task_ids)
        title, status = f"load update {uuid.uuid4().hex}", self.rng.choice(("todo", "in_progress", "done"))
        response = self.api("update", "PATCH", f"tasks/{task_id}/", json={"title": title, "status": status})
        if response is not None and response.status_code == 200:
            _acknowledged[task_id] = (title, status)
        else:
            _acknowledged.pop(task_id, None)

    @task(MIX["delete"])
    def delete(self) -> None:
        """Delete a task this user created (seeded ones stay, so lists keep their size)."""
        if not self.created_ids:
            self.create()
            return
        task_id = self.created_ids.pop(self.rng.randrange(len(self.created_ids)))
        if task_id in self.task_ids:
            self.task_ids.remove(task_id)
        response = self.api("delete", "DELETE", f"tasks/{task_id}/")
        if response is not None and response.status_code == 204:
            _acknowledged[task_id] = None
        else:
            _acknowledged.pop(task_id, None)

    @task(MIX["health_live"])
    def health_live(self) -> None:
        self.send("health_live", "GET", "/health/live")

    @task(MIX["health_ready"])
    def health_ready(self) -> None:
        self.send("health_ready", "GET", "/health/ready")


@events.spawning_complete.add_listener
def write_start(**kwargs: Any) -> None:
    if marker := os.environ.get("BENCH_STARTED"):
        Path(marker).write_text(str(time.time()))


@events.test_stop.add_listener
def write_journal(**kwargs: Any) -> None:
    if journal := os.environ.get("BENCH_JOURNAL"):
        Path(journal).write_text(json.dumps({"requests": _requests, "acknowledged": _acknowledged}))


@events.init.add_listener
def write_final_stats_on_quit(environment: Environment, **kwargs: Any) -> None:
    """Locust's own CSV statistics again, as `<csv prefix>_final_*.csv`, once every user has stopped: its
    `--csv` files are rewritten once a second while it runs and not at the end, so they miss the last
    second's requests."""

    prefix = environment.parsed_options.csv_prefix if environment.parsed_options else None

    def write(**kwargs: Any) -> None:
        stats = StatsCSV(environment, PERCENTILES_TO_REPORT)
        tables = {"stats": stats.requests_csv, "failures": stats.failures_csv, "exceptions": stats.exceptions_csv}
        for kind, write_table in tables.items():
            with Path(f"{prefix}_final_{kind}.csv").open("w", newline="") as file:
                write_table(csv.writer(file))

    if prefix:
        events.quit.add_listener(write)
