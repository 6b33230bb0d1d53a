"""Benchmark of the analytic fast path and of sweeps; prints figures, asserts nothing.

    python benchmarks/bench_analytic.py [--dask]

1. ResNet-34 at 224x224 on a 4x4 mesh: plan + evaluate + price, median of 30 runs after
   import (target: under 50 ms).
2. A 210-point analytic sweep (ResNet-18/34/50 x 5 resolutions x 14 mesh shapes) with the
   serial and the process executors, and with Dask on a local cluster when --dask is given
   (targets: <= 10 s; Dask within 1.5x of processes).
3. A 100-point simpy sweep of ResNet-34 at 224x224 (25 mesh shapes from 2x2 to 6x6 x 4 link
   bandwidths; larger meshes do not fit its 7x7 maps) with processes, and Dask with --dask
   (target: <= 60 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def single_point() -> None:
    from hyperdrive_sim.simulate import simulate
    from hyperdrive_sim.spec import loader
    from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, SystemSpec
    from hyperdrive_sim.workload.zoo import get_network

    configs = ROOT / "configs"
    chip = loader.validate(ChipSpec, loader.load(configs / "chips/hyperdrive.yaml"))
    system = loader.validate(SystemSpec, loader.load(configs / "systems/hyperdrive_mesh.yaml"))
    energy = loader.validate(EnergyTable, loader.load(configs / "energy/hyperdrive_22fdx.yaml"))
    net = get_network("resnet34")
    times = []
    for _ in range(30):
        start = time.perf_counter()
        simulate(net, "224x224", chip, system, energy, mesh="4x4")
        times.append(time.perf_counter() - start)
    print(
        f"resnet34 224x224 on 4x4, analytic: median {statistics.median(times) * 1e3:.1f} ms, "
        f"min {min(times) * 1e3:.1f} ms (30 runs)"
    )


SWEEP = """
name: bench_sweep
networks: [resnet18, resnet34, resnet50]
inputs: [224x224, 320x320, 416x416, 512x512, 640x480]
meshes: [1x1, 1x2, 2x2, 2x3, 3x3, 3x4, 4x4, 4x6, 6x6, 6x8, 8x8, 8x12, 12x12, 16x16]
chip: {include: chips/hyperdrive}
system: {include: systems/hyperdrive_mesh}
energy: {include: energy/hyperdrive_22fdx}
"""


SIMPY_SWEEP = """
name: bench_simpy_sweep
networks: [resnet34]
inputs: [224x224]
meshes: [MESHES]
chip: {include: chips/hyperdrive}
system: {include: systems/hyperdrive_mesh}
energy: {include: energy/hyperdrive_22fdx}
evaluator: simpy
sweep:
  grid:
    system.link_bandwidth_gbps: [0.8, 1.6, 3.2, 6.4]
""".replace("MESHES", ", ".join(f"{r}x{c}" for r in range(2, 7) for c in range(2, 7)))


def sweep(executors: list[str], text: str = SWEEP, what: str = "analytic") -> None:
    from hyperdrive_sim.experiment import run_experiment

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "bench_sweep.yaml"
        spec.write_text(text)
        for executor in executors:
            start = time.perf_counter()
            result = run_experiment(
                spec,
                out_dir=Path(tmp) / executor,
                executor=executor,
                cache=False,
                progress=False,
                plots=False,
            )
            wall = time.perf_counter() - start
            st = result.stats
            print(
                f"{st['points']}-point {what} sweep, {executor:<9}: {wall:6.2f} s "
                f"({st['ok']} fit, {st['infeasible']} do not)"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dask", action="store_true", help="also time the Dask executor")
    args = parser.parse_args()
    single_point()
    sweep(["serial", "processes", *(["dask"] if args.dask else [])])
    sweep(["processes", *(["dask"] if args.dask else [])], SIMPY_SWEEP, "simpy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
