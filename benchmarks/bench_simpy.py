"""Benchmark of the simpy (discrete-event) evaluator; prints figures, asserts nothing.

    python benchmarks/bench_simpy.py [--distribution bus|chain]
    python benchmarks/bench_simpy.py --scale [--frames N] [--plain]

Without ``--scale``: simulates ResNet-34 at 224x224 on 1x1 to 16x16 meshes and at
1920x1080 on 16x16, each point in a fresh subprocess so the peak RSS is that point's own.
Prints the wall time of ``simulate(..., evaluator="simpy")`` (plan + simulate + price), the
peak RSS of the process and the number of simpy events. Points that do not fit are reported
as infeasible. Targets: 224x224 on 4x4 <= 1 s and <= 250 MB; 1920x1080 on 16x16 <= 15 s and
<= 1 GB.

``--scale``: the table of the 1,024-chip points (ResNet-34 1080p on 16x16, ResNet-34 and
ResNet-152 at 3840x2160 on 32x32): ``simulate`` with the analytic and with the simpy
evaluator, each in a fresh process (wall and CPU seconds, peak RSS of the whole process),
their ratio, simpy's model events and the queue entries its loop took, beside the figures
recorded before the fast path (BEFORE). ``--plain`` times the plain reference path
(``des.run(plan, fast=False)``) instead; ``--frames`` overrides the system's frames.
Targets: ResNet-152 on 32x32 <= 15 s and < 300 MB, ResNet-34 1080p on 16x16 <= 0.5 s,
simpy within 20x of analytic. They were set when a point simulated one frame (``--frames
1``); the preset now runs three frames back to back, about three times the events.
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
SCALE = [
    ("resnet34", "1920x1080", "16x16"),
    ("resnet34", "3840x2160", "32x32"),
    ("resnet152", "3840x2160", "32x32"),
]
#: before the fast path (commit df74255), frames -> work -> (analytic CPU s, simpy CPU s,
#: simpy peak MB): one run each, in a fresh process, on the 2-core x86-64 machine of the
#: README on 2026-12-06 while it was busy (load average 1.4 to 10.5, so wall times were
#: 1.4 to 6.5 times the CPU times; CPU seconds are the steadier figure)
BEFORE: dict[int, dict[tuple[str, str, str], tuple[float, float, float]]] = {
    3: {
        ("resnet34", "1920x1080", "16x16"): (0.10, 4.52, 75),
        ("resnet34", "3840x2160", "32x32"): (0.15, 39.2, 166),
        ("resnet152", "3840x2160", "32x32"): (0.67, 196.1, 307),
    },
    1: {
        ("resnet34", "1920x1080", "16x16"): (0.06, 2.24, 74),
        ("resnet34", "3840x2160", "32x32"): (0.09, 19.6, 161),
        ("resnet152", "3840x2160", "32x32"): (0.35, 73.3, 301),
    },
}
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


def scale_point(
    network: str, resolution: str, mesh: str, evaluator: str, frames: int | None, plain: bool
) -> dict:
    from functools import partial

    from hyperdrive_sim.evaluators import des
    from hyperdrive_sim.simulate import simulate
    from hyperdrive_sim.spec.defaults import coerce

    system = coerce(None, "system")
    if frames is not None:
        system = system.model_copy(update={"frames": frames})
    runs = []
    engine_run = partial(des.engine.run, fast=not plain)

    def run(plan, record=False):  # keeps the Run, for its event counts
        runs.append(engine_run(plan, record))
        return runs[-1]

    des.run = run  # what des.evaluate calls
    wall, cpu = time.perf_counter(), time.process_time()
    result = simulate(network, resolution, system=system, mesh=mesh, evaluator=evaluator)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert result.counts is not None, result.plan.reason
    out = {"wall_s": wall, "cpu_s": cpu, "cycles": result.counts.total_cycles}
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if runs:
        out["events"], out["processed"] = runs[-1].events, runs[-1].processed
    return out


def scale_table(frames: int | None, plain: bool) -> None:
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    path = "plain reference path" if plain else "fast path"
    print(f"simpy {path}, frames {frames or 'from the preset'}, load average {load} at start")
    print(
        "| work | analytic s (CPU s) | simpy s (CPU s) | ratio (CPU) | simpy peak MB "
        "| events (queue entries) | cycles | before: analytic CPU s, simpy CPU s, peak MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for network, resolution, mesh in SCALE:
        r = {}
        for evaluator in ("analytic", "simpy"):
            cmd = [sys.executable, __file__, "--scale-point", network, resolution, mesh, evaluator]
            cmd += ["--frames", str(frames)] if frames else []
            cmd += ["--plain"] if plain else []
            run = subprocess.run(cmd, capture_output=True, text=True, check=True)
            r[evaluator] = json.loads(run.stdout.strip().splitlines()[-1])
        a, s = r["analytic"], r["simpy"]
        before = BEFORE.get(frames or 3, {}).get((network, resolution, mesh))
        was = f"{before[0]:.2f}, {before[1]:.1f}, {before[2]:.0f}" if before else "-"
        print(
            f"| {network} {resolution} on {mesh} | {a['wall_s']:.2f} ({a['cpu_s']:.2f}) "
            f"| {s['wall_s']:.2f} ({s['cpu_s']:.2f}) | {s['wall_s'] / a['wall_s']:.0f}x "
            f"({s['cpu_s'] / a['cpu_s']:.0f}x) | {s['rss_mb']:.0f} "
            f"| {s['events']:,} ({s['processed']:,}) | {s['cycles']:,} | {was} |",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distribution", choices=["bus", "chain"], default="bus")
    parser.add_argument("--scale", action="store_true", help="the 1,024-chip table")
    parser.add_argument("--frames", type=int, help="with --scale: frames back to back")
    parser.add_argument("--plain", action="store_true", help="with --scale: the reference path")
    parser.add_argument("--point", nargs=2, metavar=("RESOLUTION", "MESH"), help=argparse.SUPPRESS)
    parser.add_argument("--scale-point", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point:
        print(json.dumps(one_point(*args.point, args.distribution)))
        return 0
    if args.scale_point:
        print(json.dumps(scale_point(*args.scale_point, args.frames, args.plain)))
        return 0
    if args.scale:
        scale_table(args.frames, args.plain)
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
