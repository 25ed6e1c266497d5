"""Draw `docs/bench-throughput.png` from a benchmark's results (`bench/results/latest.json`).

    .venv/bin/python bench/chart.py [results.json] [chart.png]

One horizontal bar per workload: the app's requests per second, and beside it the floor's for the
workloads that have one (with the app's share of it). `bench/run.py` draws it after each run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # no display: render to a file

import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"
CHART = ROOT / "docs" / "bench-throughput.png"
APP_COLOUR, FLOOR_COLOUR = "#2b6cb0", "#a0aec0"


def _bars(rows: list[dict[str, Any]]) -> list[tuple[str, float, str, str]]:
    """(label, req/s, colour, annotation) for each bar, top to bottom: each app row, then its floor."""
    floors = {row["workload"]: row for row in rows if row["server"] == "floor"}
    bars = []
    for row in rows:
        if row["server"] != "app":
            continue
        rate = row["requests_per_second"]
        share = f"  ({row['floor_percent']:.0f}% of floor)" if row.get("floor_percent") else ""
        bars.append((row["workload"], rate, APP_COLOUR, f"{rate:,.0f}{share}"))
        if row["workload"] in floors:
            floor_rate = floors[row["workload"]]["requests_per_second"]
            bars.append((f"{row['workload']} (floor)", floor_rate, FLOOR_COLOUR, f"{floor_rate:,.0f}"))
    return bars


def draw(results: Path = RESULTS, chart: Path = CHART) -> None:
    """Render the chart of `results` into `chart` (PNG)."""
    data = json.loads(results.read_text())
    bars = _bars(data["rows"])
    figure, axes = plt.subplots(figsize=(10, 0.42 * len(bars) + 1.6))
    positions = list(range(len(bars)))[::-1]
    axes.barh(positions, [bar[1] for bar in bars], color=[bar[2] for bar in bars])
    axes.set_yticks(positions, [bar[0] for bar in bars])
    top = max([bar[1] for bar in bars] + [1.0])
    for position, (_, rate, _, note) in zip(positions, bars, strict=True):
        axes.text(rate + top * 0.01, position, note, va="center", fontsize=8)
    axes.set_xlim(0, top * 1.3)
    axes.set_xlabel("requests per second (higher is better)")
    settings, machine = data["settings"], data["machine"]
    axes.set_title(
        f"Tasks API throughput, {data['date'][:10]}: wrk -t{settings['threads']} -c{settings['connections']} "
        f"-d{settings['duration_s']:g}s, 2 gunicorn workers, {machine['cores']} cores, "
        f"load average {data['load_average']['start'][0]:g} at start\n"
        "blue: the app; grey: the floor (bare WSGI, same SQL and JWT check)",
        fontsize=10,
    )
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    chart.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(chart, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    draw(*(Path(arg) for arg in sys.argv[1:3]))
