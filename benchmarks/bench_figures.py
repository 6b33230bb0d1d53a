"""Benchmark of the figures: what they add to a run; prints timings, asserts nothing.

    python benchmarks/bench_figures.py [--repeat N]

Each line is the median wall time of N runs (default 3) of the CLI in a fresh process:

1. ``hyperdrive-sim run experiments/quickstart.yaml --no-cache`` with figures, into a fresh
   folder each time (every figure drawn), and into the same folder each time (the figure
   stamp matches from the second run on: nothing is redrawn);
2. the same without figures (``--no-plots``), the floor of the two above
   (target: with figures, fresh, under 2 s);
3. a cached re-run of experiments/tilings_resnet34.yaml with and without figures, after one
   untimed run that fills the cache and draws the figures (target: under 2x the no-figure
   time);
4. ``plot_results`` alone on the quickstart results, per worker count (1 = in-process).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "hyperdrive_sim"]


def _run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([*CLI, *args], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def _median(repeat: int, make_args, fresh: Path | None = None) -> float:
    times = []
    for _ in range(repeat):
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
        times.append(_run(make_args()))
    return statistics.median(times)


def _plot_alone(folder: Path, workers: int, repeat: int) -> float:
    code = (
        "import sys, time; from hyperdrive_sim.viz import plot_results; "
        "t = time.perf_counter(); "
        f"plot_results(sys.argv[1], sys.argv[2], workers={workers}, force=True); "
        "print(time.perf_counter() - t)"
    )
    times = []
    for k in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", code, str(folder), str(folder / f"figs{k}")],
            check=True,
            capture_output=True,
            text=True,
        )
        times.append(float(out.stdout.strip()))
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (median)")
    n = parser.parse_args().repeat
    quick = "experiments/quickstart.yaml"
    tilings = "experiments/tilings_resnet34.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        base = ["run", quick, "--no-progress", "--no-cache"]
        rows = [
            (
                "quickstart, figures, fresh folder",
                _median(n, lambda: [*base, "--out", str(t / "q")], fresh=t / "q"),
            ),
            (
                "quickstart, figures, same folder",
                _median(n, lambda: [*base, "--out", str(t / "same")]),
            ),
            (
                "quickstart, --no-plots",
                _median(n, lambda: [*base, "--out", str(t / "np"), "--no-plots"], fresh=t / "np"),
            ),
        ]
        _run(["run", tilings, "--no-progress", "--out", str(t / "til")])  # fill the cache
        again = ["run", tilings, "--no-progress", "--out", str(t / "til")]
        rows.append(("tilings_resnet34, cached re-run, figures", _median(n, lambda: again)))
        rows.append(
            (
                "tilings_resnet34, cached re-run, --no-plots",
                _median(n, lambda: [*again, "--no-plots"]),
            )
        )
        for workers in (1, 2):
            rows.append(
                (f"plot_results(quickstart), workers={workers}", _plot_alone(t / "q", workers, n))
            )
    width = max(len(name) for name, _ in rows)
    print(f"median of {n} runs (s)")
    for name, seconds in rows:
        print(f"  {name:<{width}}  {seconds:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
