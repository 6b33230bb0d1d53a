"""How far the analytic schedule is from the event model, per dataflow option; prints a
table, asserts nothing.

    python benchmarks/bench_agreement.py

Each row simulates one point with both evaluators (presets, steady state of three frames)
and prints their frames/s, the analytic one's difference, the first frame's latency
difference and the time each took. docs/simulation.md ("Which evaluator to trust") quotes
this table.
"""

from __future__ import annotations

import time

CASES = [
    ("resnet34", "224x224", "4x4", {}, {}),
    ("resnet34", "224x224", "4x4", {}, {"border_exchange": "streamed"}),
    ("resnet34", "224x224", "2x2", {}, {"partitioning": "hybrid"}),
    ("resnet34", "224x224", "2x2", {}, {"partitioning": "channel"}),
    ("resnet34", "224x224", "2x2", {}, {"weight_distribution": "chain"}),
    ("vgg16", "224x224", "6x6", {}, {}),
    ("mobilenet_v2", "224x224", "2x2", {}, {}),
    ("mobilenet_v2", "224x224", "4x4", {}, {}),
    ("resnet34", "1920x1080", "4x9", {"fmm_bits": 19_200_000, "operating_point": "nominal"}, {}),
]


def _label(chip: dict, system: dict) -> str:
    items = {**chip, **system}
    return " ".join(f"{k}={v}" for k, v in items.items()) or "preset"


def main() -> None:
    from hyperdrive_sim.simulate import simulate

    head = f"{'network':<13} {'input':>9} {'mesh':>5}  {'setting':<44} {'fps analytic':>12} "
    print(head + f"{'fps simpy':>9} {'diff':>6} {'latency diff':>12} {'time a/s':>11}")
    for net, res, mesh, chip, system in CASES:
        got = {}
        for ev in ("analytic", "simpy"):
            start = time.perf_counter()
            row = simulate(net, res, mesh=mesh, chip=chip, system=system, evaluator=ev).row
            got[ev] = (row["fps"], row["cycles"], time.perf_counter() - start)
        (fa, ca, ta), (fs, cs, ts) = got["analytic"], got["simpy"]
        print(
            f"{net:<13} {res:>9} {mesh:>5}  {_label(chip, system):<44} {fa:>12.1f} {fs:>9.1f} "
            f"{100 * (fa / fs - 1):>+5.1f}% {100 * (ca / cs - 1):>+11.1f}% {ta:>5.2f}/{ts:<5.2f}"
        )


if __name__ == "__main__":
    main()
