"""Draw docs/figures/depth_first_fmm.png: FMM occupancy over one frame of ResNet-34 at
1920x1080 on 8x8 Hyperdrive chips, layer by layer and depth first.

    python scripts/draw_fmm_occupancy.py

Both curves come from the plans (mapping/plan.py, mapping/depth_first.py), not from a
simulation: each layer (or each fused layer in each band) holds its FMM need on the chip
where the frame's peak is, for as long as the slowest chip computes it. Layer by layer,
the first layers' whole maps overflow the 6.4 Mbit FMM (the plan does not fit 8x8 chips);
depth first, the planner's fused stack holds a few rows per layer and the stack's output
grows band by band.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.spec.defaults import coerce
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import Mesh
from hyperdrive_sim.workload.zoo import ZOO

OUT = Path(__file__).resolve().parent.parent / "docs" / "figures" / "depth_first_fmm.png"
MESH = Mesh(rows=8, cols=8)


def occupancy(fusion: str):
    """(time in ms, FMM need in Mbit) steps of the plan on the chip with the peak, and the
    plan."""
    net = ZOO["resnet34"]().at(1080, 1920)
    system = coerce(None, "system").model_copy(update={"fusion": fusion, "mesh": MESH})
    hw = Hardware(coerce(None, "chip"), system, coerce(None, "energy"), MESH)
    plan = build_plan(net, hw)
    needs = np.stack([lp.fmm_need_bits for lp in plan.layers])
    chip = int(np.unravel_index(int(np.argmax(needs)), needs.shape)[1])
    cycles = np.array([int(lp.work.cycles.max()) for lp in plan.layers])
    ends = np.cumsum(cycles) / hw.frequency_hz * 1e3
    starts = np.concatenate(([0.0], ends[:-1]))
    return starts, ends, needs[:, chip] / 1e6, plan


def main() -> None:
    fig, ax = plt.subplots(figsize=(8.0, 3.8), layout="constrained")
    styles = {
        "layer_by_layer": ("black", "-", "layer by layer (does not fit)"),
        "depth_first": ("black", "--", None),
    }
    capacity = None
    for fusion, (color, line, label) in styles.items():
        starts, ends, need, plan = occupancy(fusion)
        x = np.column_stack([starts, ends]).ravel()
        y = np.repeat(need, 2)
        if label is None:
            first = next(lp for lp in plan.layers if " band " in lp.name)
            stack = sum(" band 1/" in lp.name for lp in plan.layers)
            bands = first.name.rsplit("/", 1)[1]
            label = f"depth first ({stack} fused layers, {bands} bands per chip)"
        ax.plot(x, y, color=color, linestyle=line, linewidth=1.2, label=label)
        capacity = plan.hw.chip.fmm_bits / 1e6
    ax.axhline(capacity, color="grey", linewidth=0.8, linestyle=":")
    ax.text(62, capacity, f" FMM capacity {capacity:.1f} Mbit", va="bottom", color="grey")
    ax.set_xlabel("time in the frame (ms at 100 MHz, slowest chip's compute per layer)")
    ax.set_ylabel("FMM need on the peak chip (Mbit)")
    ax.set_title("ResNet-34 at 1920x1080 on 8x8 chips: feature-map memory over one frame")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.legend(loc="upper right", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=150)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
