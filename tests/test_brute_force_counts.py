"""Property test: a plan's per-chip counts equal a brute-force count over the pixels.

Random seeded cases on non-square Tile-PU arrays, non-square kernels, strides and pools,
uneven maps and non-square meshes. For every chip the test enumerates the output pixels it
owns (chip boundaries at ceil(k * size / parts), docs/model.md), walks the M x N Tile-PU
array over them, and lists every input pixel each output's window reads, then counts:

- pixel steps: the distinct positions (y // M, x // N) of the Tile-PU array that hold at
  least one of the chip's pixels; cycles are steps x taps x weight blocks (a block: up to
  C output channels of one group) for a conv, steps x kh x kw x channels for a pool;
- MACs: own output pixels x output channels x taps;
- halo pixels per neighbour: the input pixels read that another chip owns, by the owner's
  direction, and whether any owner is beyond an immediate neighbour;
- halo-free outputs: those whose whole window lies in the chip's own input share.

Windows have dilation 1 and a stride no longer than the kernel, so the input pixels a
chip reads form one rectangle (the model sends the rectangle).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from presets import preset as _preset

from hyperdrive_sim.mapping.tiling import DIRECTIONS, Tiling, halo
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, SystemSpec
from hyperdrive_sim.workload.layers import INPUT, Conv, Pool
from hyperdrive_sim.workload.network import Network

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CASES = 40


def _bounds(size: int, parts: int) -> list[int]:
    return [math.ceil(k * size / parts) for k in range(parts + 1)]


def _owner(pos: int, bounds: list[int]) -> int:
    return next(k for k in range(len(bounds) - 1) if bounds[k] <= pos < bounds[k + 1])


def _case(rng: np.random.Generator):
    """A random (first layer, layer under test, chip, mesh, image) that tiles the mesh."""
    while True:
        m, n = (int(v) for v in rng.choice(np.arange(1, 7), size=2, replace=False))
        fmpus = int(rng.choice([4, 16]))
        rows, cols = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        h, w = int(rng.integers(5, 21)), int(rng.integers(5, 21))
        kh, kw = int(rng.choice([1, 2, 3, 5])), int(rng.choice([1, 2, 3, 5]))
        sh, sw = int(rng.integers(1, kh + 1)), int(rng.integers(1, kw + 1))
        pads = tuple(int(rng.integers(0, k)) if k > 1 else 0 for k in (kh, kw, kh, kw))
        cin = int(rng.integers(1, 5))
        pool = rng.random() < 0.3
        if pool:
            layer = Pool("t", ("first",), kernel=(kh, kw), stride=(sh, sw), padding=pads)
        else:
            groups = int(rng.choice([1, cin]))
            cout = groups * int(rng.integers(1, 9)) if groups > 1 else int(rng.integers(1, 25))
            layer = Conv(
                "t", ("first",), kernel=(kh, kw), stride=(sh, sw), padding=pads,
                out_channels=cout, groups=groups,
            )  # fmt: skip
        first = Conv("first", (INPUT,), kernel=1, out_channels=cin)
        net = Network("case", (first, layer), input_channels=2)
        try:
            shaped = net.at(h, w)
        except Exception:  # window larger than the map: draw again
            continue
        out = shaped.infos[1].out_shape
        if out.height >= rows and out.width >= cols:
            chip = _preset("chips/hyperdrive.yaml") | {
                "tile_rows": m, "tile_cols": n, "fmpus_per_tile": fmpus,
            }  # fmt: skip
            return shaped, ChipSpec.model_validate(chip), Mesh(rows=rows, cols=cols)


def _brute(shaped, chip: ChipSpec, mesh: Mesh):
    """Per chip: cycles, MACs, halo pixels per direction, too far, halo-free outputs."""
    info = shaped.infos[1]
    layer, src, out = info.layer, info.in_shapes[0], info.out_shape
    (kh, kw), (sh, sw) = layer.kernel, layer.stride
    top, left = layer.padding[0], layer.padding[1]
    m, n, c = chip.tile_rows, chip.tile_cols, chip.fmpus_per_tile
    if layer.kind == "conv":
        per_group = out.channels // layer.groups
        blocks = layer.groups * math.ceil(per_group / c)
        taps = src.channels // layer.groups * kh * kw
        weighted = blocks * taps
    else:
        taps, weighted = 0, out.channels * kh * kw
    orow, ocol = _bounds(out.height, mesh.rows), _bounds(out.width, mesh.cols)
    irow, icol = _bounds(src.height, mesh.rows), _bounds(src.width, mesh.cols)
    results = []
    for r, k in itertools.product(range(mesh.rows), range(mesh.cols)):
        own = [
            (y, x)
            for y in range(orow[r], orow[r + 1])
            for x in range(ocol[k], ocol[k + 1])
        ]  # fmt: skip
        steps = len({((y - orow[r]) // m, (x - ocol[k]) // n) for y, x in own})
        needed: set[tuple[int, int]] = set()
        interior = 0
        for y, x in own:
            window = {
                (y * sh - top + i, x * sw - left + j)
                for i in range(kh)
                for j in range(kw)
                if 0 <= y * sh - top + i < src.height and 0 <= x * sw - left + j < src.width
            }
            needed |= window
            interior += all(
                irow[r] <= a < irow[r + 1] and icol[k] <= b < icol[k + 1] for a, b in window
            )
        by_dir = dict.fromkeys(DIRECTIONS, 0)
        too_far = False
        for a, b in needed:
            d = (_owner(a, irow) - r, _owner(b, icol) - k)
            if d == (0, 0):
                continue
            if max(abs(d[0]), abs(d[1])) > 1:
                too_far = True
            else:
                by_dir[d] += 1
        results.append(
            {
                "cycles": steps * weighted,
                "macs": len(own) * out.channels * taps,
                "halo": [by_dir[d] for d in DIRECTIONS],
                "too_far": too_far,
                "interior": interior,
            }
        )
    return results


@pytest.mark.parametrize("seed", range(CASES))
def test_counts_equal_a_brute_force_count(seed: int) -> None:
    shaped, chip, mesh = _case(np.random.default_rng(seed))
    want = _brute(shaped, chip, mesh)
    info = shaped.infos[1]
    h = halo(info.layer, Tiling.of(info.out_shape, mesh), Tiling.of(info.in_shapes[0], mesh))
    assert h.too_far.tolist() == [w["too_far"] for w in want]
    reachable = [not w["too_far"] for w in want]
    # pixels from beyond a neighbour are not counted by direction: compare the others
    assert h.pixels[reachable].tolist() == [w["halo"] for w in want if not w["too_far"]]
    assert h.interior_pixels.tolist() == [w["interior"] for w in want]
    system = SystemSpec.model_validate(_preset("systems/hyperdrive_mesh.yaml"))
    energy = EnergyTable.model_validate(_preset("energy/hyperdrive_22fdx.yaml"))
    plan = build_plan(shaped, Hardware(chip, system, energy, mesh))
    lp = plan.layers[1]
    assert lp.work.cycles.tolist() == [w["cycles"] for w in want]
    assert lp.work.macs.tolist() == [w["macs"] for w in want]
    bits = info.in_shapes[0].channels * chip.activation_bits
    assert (lp.halo_bits // bits)[reachable].tolist() == [
        w["halo"] for w in want if not w["too_far"]
    ]
