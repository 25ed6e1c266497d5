"""Does a user's task list stay fast as the table grows?

Builds two PostgreSQL databases with `manage.py seed_tasks`: one with 1,000 tasks (one user), one
with 1,000,000 (100 users with 10,000 each), and times the first page of a user's list and a
filtered list (`status=done`) in each, in-process through the whole Django stack (middleware,
authentication, queries, rendering). Prints medians, p99s and the large/small ratio against the
2x goal (printed, not enforced: timings on a shared machine vary); exits 2 when it cannot run.

    .venv/bin/python bench/scale.py [--requests 300] [--keep]
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from bench import harness  # noqa: E402

CASES = {"list, first page": "/api/v1/tasks/", "list, status=done": "/api/v1/tasks/?status=done"}


def run(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise harness.BenchError(f"{' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def build(name: str, users: int, per_user: int) -> tuple[dict[str, str], float]:
    """A fresh database seeded with `users` x `per_user` tasks; its environment and seeding time."""
    env = harness.production_env(harness.create_database(name), ALLOWED_HOSTS="testserver")
    run(sys.executable, "manage.py", "migrate", "--noinput", "-v0", env=env)
    started = time.monotonic()
    run(sys.executable, "manage.py", "seed_tasks", "--users", str(users), "--tasks-per-user", str(per_user), env=env)
    return env, time.monotonic() - started


def measure(requests: int) -> dict[str, dict[str, float]]:
    """Run inside a configured process: time each case `requests` times as user seed-0."""
    import django

    django.setup()
    from django.test import Client

    from accounts.models import User
    from accounts.tokens import issue_token_pair

    user = User.objects.get(email="seed-0@example.com")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issue_token_pair(user).access_token}")
    results = {}
    for label, path in CASES.items():
        for _ in range(20):  # warm up connections, caches and the plan cache
            client.get(path)
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content
        timings.sort()
        results[label] = {
            "median_ms": statistics.median(timings),
            "p99_ms": timings[int(len(timings) * 0.99) - 1],
            "count": response.json()["count"],
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="Keep the two databases afterwards.")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.requests)))
        return 0

    sizes = {"1,000 tasks": ("scale_bench_small", 1, 1_000), "1,000,000 tasks": ("scale_bench_large", 100, 10_000)}

    def compare() -> None:
        """Build, measure and print: each median at 1M against its median at 1k, and the 2x goal."""
        figures = {}
        for label, (name, users, per_user) in sizes.items():
            env, seconds = build(name, users, per_user)
            print(f"Seeded {label} in {seconds:.1f} s.", flush=True)
            out = run(sys.executable, __file__, "--measure", "--requests", str(args.requests), env=env)
            figures[label] = json.loads(out.strip().splitlines()[-1])
        small, large = figures["1,000 tasks"], figures["1,000,000 tasks"]
        print(f"\n{'request':<20} {'tasks in table':>16} {'user owns':>10} {'median ms':>10} {'p99 ms':>8}")
        for case in CASES:
            for label, result in figures.items():
                owns = 1_000 if label == "1,000 tasks" else 10_000
                row = result[case]
                print(f"{case:<20} {label:>16} {owns:>10,} {row['median_ms']:>10.2f} {row['p99_ms']:>8.2f}")
            ratio = large[case]["median_ms"] / small[case]["median_ms"]
            print(f"{'':<20} median at 1M / at 1k = {ratio:.2f} ({'within' if ratio <= 2 else 'OVER'} the 2x goal)")

    def clean_up() -> None:
        if not args.keep:
            for name, _, _ in sizes.values():
                harness.drop_database(name)

    # A measurement, not a test: timings on a shared machine vary, so the goal is printed, not enforced.
    with harness.cleanup_on_signals():
        try:
            compare()
        except harness.CANNOT_RUN as exc:
            print(f"ERROR: {exc}")
            return 2
        finally:
            clean_up()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
