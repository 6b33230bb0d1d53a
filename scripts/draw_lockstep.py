"""Draw docs/figures/lockstep_halo.png: which steps of the lock-step Tile-PU array read the
halo, for a chip of 21x21 outputs on 7x7 Tile-PUs (3x3 pixels each) under a 3x3 conv.

    python scripts/draw_lockstep.py

Left: the corner chip of a 2x2 mesh (42x42 map), halos from its south and east neighbours.
Right: the middle chip of a 3x3 mesh (63x63 map), halos from all four sides. Each small
square is an output pixel, coloured by whether the lock-step step that computes it (its
position within its Tile-PU's 3x3 patch) is halo-free; a dot marks a pixel whose own input
window leaves the chip's input. The counts come from mapping.tiling.lockstep_interior_steps.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch, Rectangle

from hyperdrive_sim.mapping.tiling import Tiling, lockstep_interior_steps
from hyperdrive_sim.spec.models import Mesh
from hyperdrive_sim.workload.layers import Conv, Shape

OUT = Path(__file__).resolve().parent.parent / "docs" / "figures" / "lockstep_halo.png"
UNITS, PATCH, SIDE = 7, 3, 21
# black and white with hatching: no colour that means an energy part in the other figures
FREE, HALO = "white", "////"


def _panel(ax, sides: set[str], title: str, free_steps: int) -> None:
    border = np.zeros((SIDE, SIDE), dtype=bool)
    border[0, :] |= "N" in sides
    border[-1, :] |= "S" in sides
    border[:, 0] |= "W" in sides
    border[:, -1] |= "E" in sides
    edge_rows = [r for r, side in ((0, "N"), (SIDE - 1, "S")) if side in sides]
    edge_cols = [c for c, side in ((0, "W"), (SIDE - 1, "E")) if side in sides]
    rows_hit = {r % PATCH for r in edge_rows}  # local rows of a patch reading the halo
    cols_hit = {c % PATCH for c in edge_cols}
    step_free = np.array(
        [[(r % PATCH) not in rows_hit and (c % PATCH) not in cols_hit for c in range(SIDE)]
         for r in range(SIDE)]
    )  # fmt: skip
    assert int(step_free[:PATCH, :PATCH].sum()) == free_steps  # the model's own count
    for r in range(SIDE):
        for c in range(SIDE):
            ax.add_patch(
                Rectangle(
                    (c - 0.5, r - 0.5), 1, 1, facecolor=FREE, edgecolor="black",
                    linewidth=0, hatch=None if step_free[r, c] else HALO,
                )
            )  # fmt: skip
    ax.set_xlim(-0.5, SIDE - 0.5)
    ax.set_ylim(SIDE - 0.5, -0.5)
    ax.set_aspect("equal")
    ys, xs = np.nonzero(border)
    ax.plot(
        xs,
        ys,
        "o",
        markersize=3.2,
        markerfacecolor="white",
        markeredgecolor="black",
        markeredgewidth=0.7,
    )
    for k in range(0, SIDE + 1, PATCH):
        ax.axhline(k - 0.5, color="black", linewidth=0.8)
        ax.axvline(k - 0.5, color="black", linewidth=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{title}\n{free_steps} of 9 steps halo-free", fontsize=9)


def main() -> None:
    conv = Conv("conv", ("x",), kernel=(3, 3), padding=(1, 1, 1, 1), out_channels=16)
    two = Tiling.of(Shape(16, 42, 42), Mesh(rows=2, cols=2))
    three = Tiling.of(Shape(16, 63, 63), Mesh(rows=3, cols=3))
    corner = int(lockstep_interior_steps(conv, two, two, (UNITS, UNITS))[0])
    middle = int(lockstep_interior_steps(conv, three, three, (UNITS, UNITS))[4])
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 4.2), dpi=150)
    _panel(axes[0], {"S", "E"}, "corner chip of 2x2 (42x42 map)", corner)
    _panel(axes[1], {"N", "S", "W", "E"}, "middle chip of 3x3 (63x63 map)", middle)
    fig.suptitle("3x3 conv on 21x21 outputs per chip, 7x7 Tile-PUs of 3x3 pixels", fontsize=10)
    fig.legend(
        handles=[
            Patch(facecolor=FREE, edgecolor="black", label="step needs no halo (runs first)"),
            Patch(
                facecolor=FREE,
                edgecolor="black",
                hatch=HALO,
                label="step reads the halo (waits for it)",
            ),
            plt.Line2D(
                [],
                [],
                marker="o",
                markerfacecolor="white",
                markeredgecolor="black",
                linestyle="",
                label="pixel reading the halo",
            ),
        ],
        loc="lower center",
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    fig.subplots_adjust(left=0.02, right=0.98, top=0.82, bottom=0.1, wspace=0.08)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT)
    print(f"wrote {OUT.relative_to(OUT.parent.parent.parent)}")


if __name__ == "__main__":
    main()
