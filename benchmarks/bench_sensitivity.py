"""Benchmark of ``sensitivity``: a first run and a re-run served from its cache; prints
timings, asserts nothing.

    python benchmarks/bench_sensitivity.py [--repeat N]

Each line is the median wall time of N runs (default 3) of ``hyperdrive-sim sensitivity
quickstart`` (3 points that fit, 200 samples, every ranged parameter) in a fresh process:
into a fresh folder each time (every variant evaluated, every figure drawn), and again into
the folder of the last of those (every evaluation from the cache), with and without
figures.
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
CLI = [sys.executable, "-m", "hyperdrive_sim", "sensitivity", "quickstart", "--no-progress"]


def _run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([*CLI, *args], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (median)")
    n = parser.parse_args().repeat
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "s"
        fresh = []
        for _ in range(n):
            shutil.rmtree(out, ignore_errors=True)
            fresh.append(_run(["--out", str(out)]))
        cached = [_run(["--out", str(out)]) for _ in range(n)]
        bare = [_run(["--out", str(out), "--no-plots"]) for _ in range(n)]
    for label, times in (
        ("sensitivity quickstart, fresh folder", fresh),
        ("sensitivity quickstart, re-run (cached)", cached),
        ("sensitivity quickstart, re-run (cached), --no-plots", bare),
    ):
        print(f"{label:<52} {statistics.median(times):6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
