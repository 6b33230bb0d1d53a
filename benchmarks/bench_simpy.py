"""Benchmark of the simpy (discrete-event) evaluator; prints figures, asserts nothing.

    python benchmarks/bench_simpy.py [--distribution bus|chain]

Simulates ResNet-34 at 224x224 on 1x1 to 16x16 meshes and at 1920x1080 on 16x16, each point
in a fresh subprocess so the peak RSS is that point's own. Prints the wall time of
``simulate(..., evaluator="simpy")`` (plan + simulate + price), the peak RSS of the process
and the number of simpy events. Points that do not fit are reported as infeasible.
Targets: 224x224 on 4x4 <= 1 s and <= 250 MB; 1920x1080 on 16x16 <= 15 s and <= 1 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POINTS = [
    ("224x224", "1x1"),
    ("224x224", "2x2"),
    ("224x224", "4x4"),
    ("224x224", "8x8"),
    ("224x224", "16x16"),
    ("1920x1080", "8x8"),
    ("1920x1080", "16x16"),
]


def one_point(resolution: str, mesh: str, distribution: str) -> dict:
    from hyperdrive_sim.evaluators import des
    from hyperdrive_sim.simulate import simulate
    from hyperdrive_sim.spec import loader
    from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, SystemSpec

    configs = ROOT / "configs"
    chip = loader.validate(ChipSpec, loader.load(configs / "chips/hyperdrive.yaml"))
    system = loader.validate(SystemSpec, loader.load(configs / "systems/hyperdrive_mesh.yaml"))
    system = system.model_copy(update={"weight_distribution": distribution})
    energy = loader.validate(EnergyTable, loader.load(configs / "energy/hyperdrive_22fdx.yaml"))
    start = time.perf_counter()
    result = simulate("resnet34", resolution, chip, system, energy, mesh=mesh, evaluator="simpy")
    wall = time.perf_counter() - start
    out = {"fits": result.fits, "reason": result.plan.reason, "wall_s": wall}
    if result.fits:
        assert result.counts is not None
        out["cycles"] = result.counts.total_cycles
        out["events"] = des.run(result.plan).events  # a second, untimed run to count events
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distribution", choices=["bus", "chain"], default="bus")
    parser.add_argument("--point", nargs=2, metavar=("RESOLUTION", "MESH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point:
        print(json.dumps(one_point(*args.point, args.distribution)))
        return 0
    print(f"resnet34, simpy evaluator, {args.distribution} weight distribution")
    for resolution, mesh in POINTS:
        cmd = [sys.executable, __file__, "--point", resolution, mesh]
        cmd += ["--distribution", args.distribution]
        run = subprocess.run(cmd, capture_output=True, text=True, check=True)
        r = json.loads(run.stdout.strip().splitlines()[-1])
        head = f"{resolution:>9} on {mesh:>5}:"
        if not r["fits"]:
            print(f"{head} infeasible ({r['reason']})")
            continue
        print(
            f"{head} {r['wall_s']:6.2f} s, peak RSS {r['rss_mb']:6.0f} MB, "
            f"{r['events']:>8,} events, {r['cycles']:>10,} cycles"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
