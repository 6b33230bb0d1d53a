"""Time and peak memory of explore's Pareto ranking and of sensitivity at their input limits.

    python benchmarks/bench_limits.py [--samples N] [--points N]

1. explore: ``limits.MAX_POINTS`` (100,000) design points of one case, three objectives
   (energy min, fps max, silicon area min) and one constraint, ranked as ``explore`` ranks
   them (``explore.run._rank``). The rows are synthetic (seeded), so the measurement is the
   ranking alone, not the evaluation of 100,000 designs.
2. sensitivity: ``limits.MAX_SAMPLES`` (10,000) Monte-Carlo samples of one ResNet-18 64x64
   point on a 1x1 mesh with the bundled presets' ranges, serial executor.

Each runs in its own child process, whose peak resident memory (ru_maxrss) is printed with
its wall time; docs/limits.md states the bound these show.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from hyperdrive_sim import limits

EXPLORE = """
import time
import numpy as np
from hyperdrive_sim.explore.run import _rank
from hyperdrive_sim.spec.explore import ExploreSpec

n = {points}
rng = np.random.default_rng(0)
energy, fps, area = rng.lognormal(0, 1, n), rng.lognormal(3, 1, n), rng.lognormal(4, 1, n)
rows = [
    {{"network": "resnet34", "input_w": 1920, "input_h": 1080, "fits": True,
      "total_energy_j": float(e), "fps": float(f), "silicon_area_mm2": float(a)}}
    for e, f, a in zip(energy, fps, area)
]
spec = ExploreSpec.model_validate({{
    "mesh": {{"max_rows": 2, "max_cols": 2}},
    "objectives": {{"energy": "min", "fps": "max", "silicon_area": "min"}},
    "constraints": ["fps >= 5"],
}})
objectives = __import__("hyperdrive_sim.explore.run", fromlist=["objectives_of"]).objectives_of(
    spec, None)
start = time.perf_counter()
_rank(rows, objectives, spec)
seconds = time.perf_counter() - start
front = sum(r["pareto_rank"] == 1 for r in rows)
ranks = max(r["pareto_rank"] or 0 for r in rows)
print(f"explore ranking of {{n:,}} points: {{seconds:.1f}} s, {{front}} on the front, "
      f"{{ranks}} ranks")
"""

SENSITIVITY = """
import time
from pathlib import Path
from hyperdrive_sim.experiment import load_experiment
from hyperdrive_sim.sensitivity import sensitivity

path = Path({folder!r}) / "sens.yaml"
path.write_text("name: bench\\nnetworks: [resnet18]\\ninputs: [64x64]\\nmeshes: [1x1]\\n")
spec, base = load_experiment(path)
start = time.perf_counter()
result = sensitivity(spec, base, samples={samples}, executor="serial", write=False)
seconds = time.perf_counter() - start
u = result.uncertainty[0]
print(f"sensitivity with {{result.samples:,}} samples: {{seconds:.1f}} s, "
      f"TOp/s/W p5..p95 {{u['system_tops_per_w_p5']:.3g}}..{{u['system_tops_per_w_p95']:.3g}}")
"""


def measure(code: str) -> None:
    """Run ``code`` in a child process; print its output and its own peak resident memory."""
    peak = "import resource\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code) + peak],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if proc.returncode:
        sys.exit(proc.stderr)
    *lines, peak_kb = proc.stdout.strip().splitlines()
    print(f"{' '.join(lines)}; peak memory {int(peak_kb) / 1024:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=limits.MAX_POINTS)
    parser.add_argument("--samples", type=int, default=limits.MAX_SAMPLES)
    args = parser.parse_args()
    measure(EXPLORE.format(points=args.points))
    with tempfile.TemporaryDirectory() as tmp:
        measure(SENSITIVITY.format(folder=str(Path(tmp)), samples=args.samples))


if __name__ == "__main__":
    main()
