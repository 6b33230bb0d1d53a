"""Benchmark of start-up: the wall time of short commands; prints timings, asserts nothing.

    python benchmarks/bench_startup.py [--repeat N]

Each line is the median wall time of N runs (default 9) of the command in a fresh process,
after one untimed run (so that Python's bytecode cache is written, as after ``pip
install``; with PYTHONDONTWRITEBYTECODE set every run would recompile the sources):

1. ``python -c pass``, the floor;
2. ``hyperdrive-sim --version`` and ``--help`` (target: under 0.15 s on an idle 2-core
   machine);
3. ``hyperdrive-sim fit resnet34 --input 1920x1080`` (target: under 0.5 s end to end);
4. ``python -c "import hyperdrive_sim.cli"`` and ``import hyperdrive_sim`` alone.

The commands run as ``python -m hyperdrive_sim`` from this checkout (the console script
``hyperdrive-sim`` adds only its own few milliseconds of start-up).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "hyperdrive_sim"]
FIT = ["fit", "resnet34", "--input", "1920x1080"]
CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import hyperdrive_sim": [sys.executable, "-c", "import hyperdrive_sim"],
    "import hyperdrive_sim.cli": [sys.executable, "-c", "import hyperdrive_sim.cli"],
    "hyperdrive-sim --version": [*CLI, "--version"],
    "hyperdrive-sim --help": [*CLI, "--help"],
    "hyperdrive-sim fit resnet34 --input 1920x1080": [*CLI, *FIT],
}


def _time(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="runs per timing (median)")
    n = parser.parse_args().repeat
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    print(f"{'command':<48} {'median':>8} {'min':>8}   ({n} runs, {os.cpu_count()} cores)")
    for label, command in CASES.items():
        _time(command, env)  # untimed: writes the bytecode cache
        times = [_time(command, env) for _ in range(n)]
        print(f"{label:<48} {statistics.median(times):>7.3f}s {min(times):>7.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
