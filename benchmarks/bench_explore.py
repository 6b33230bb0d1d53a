"""Benchmark of design-space exploration: the bundled ResNet-34 1920x1080 space.

    python benchmarks/bench_explore.py [--jobs N] [--refine simpy]

Every mesh from 1x1 to 16x16 x 6 FMM sizes x 2 operating points x 3 off-chip energies
(9,216 design points), analytic evaluator, process pool; then the same run again, served
from the cache. Prints wall times and the work saved by pruning and re-pricing. With
``--refine simpy`` the fronts are refined by the event model, and the refinement's
evaluations and rounds are printed too.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hyperdrive_sim.explore.run import explore_experiment

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENT = ROOT / "experiments" / "explore_resnet34_1080p.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=None, help="worker processes")
    parser.add_argument("--refine", choices=["simpy"], help="refine the fronts with simpy")
    args = parser.parse_args()
    overrides = [f"explore.refine={args.refine}"] if args.refine else []
    with tempfile.TemporaryDirectory() as tmp:
        for label in ("fresh", "cached"):
            start = time.perf_counter()
            result = explore_experiment(
                EXPERIMENT, overrides=overrides, out_dir=Path(tmp) / "out", jobs=args.jobs,
                progress=False, plots=False,
            )  # fmt: skip
            seconds = time.perf_counter() - start
            st = result.stats
            print(
                f"{label:>6}: {seconds:6.1f} s for {st['points']:,} design points "
                f"({st['groups']} groups: {st['pruned_groups']} pruned before evaluating, "
                f"{st['evaluated_groups']} evaluated, {st['cached_groups']} from cache); "
                f"{st['front']} on the fronts"
            )
            if args.refine:
                print(
                    f"        refined {st['refined_points']:,} points in "
                    f"{st['refined_groups']} evaluations ({st['refine_cached_groups']} from "
                    f"cache, {st['refine_rounds']} rounds): {st['joined_front']} joined the "
                    f"fronts, {st['left_front']} left them"
                )


if __name__ == "__main__":
    main()
