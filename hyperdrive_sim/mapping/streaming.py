"""When the image and the results cross the off-chip interface within a frame.

The host sends each chip's image tile in the order the first layer's lock-step Tile-PU
array reads it, so the first phase of that layer starts as soon as the rows of its first
lock-step steps have arrived and then keeps pace with the data; the results leave as the
output layer's phases (or, after a reduction, the layer) produce them.

The array of M x N Tile-PUs cuts the chip's output share into M x N patches of
ceil(h / M) x ceil(w / N) pixels; step (r, s) computes local pixel (r, s) of every patch,
the local positions in row-major order (an assumption, as in ``lockstep_interior_steps``).
So the steps of local row r read, in each of the M patch rows, the input rows of output
row ``i * ceil(h / M) + r``: the tile is useful to the array in that order, M bands at a
time, not top to bottom. Both evaluators use the tables built here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperdrive_sim.mapping.plan import Plan
from hyperdrive_sim.mapping.tiling import Tiling


@dataclass(frozen=True, eq=False)
class ImageRows:
    """How one chip's first phase of its first layer consumes its image tile.

    Local row k of the lock-step steps (k runs over the patch rows, frame after frame of a
    batch) starts once ``need[k]`` bits of the tile have arrived, and ends ``ends[k]``
    cycles after the phase began if it never waits. The last row needs the whole tile.
    """

    need: tuple[int, ...]
    ends: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class ResultParts:
    """The results each chip reads out, and when they are ready.

    ``bits[c][p]``: with ``per_phase``, the part ready when phase p of ``layer`` ends on
    chip c (phase p computes ``phase_channels[p]`` of the output channels at every pixel);
    otherwise ``bits[c][0]``, ready when chip c has finished ``layer`` (the last output
    layer, after its reduction).
    """

    layer: int
    per_phase: bool
    bits: tuple[tuple[int, ...], ...]


def streams_image(plan: Plan) -> bool:
    """True when the first layer reads the image as a tiled map, without a move first
    (so its chips can start on the rows they have)."""
    if plan.stages is not None or not plan.layers:
        return False
    lp = plan.layers[0]
    return (
        lp.halo_offchip
        and lp.placement == "tiled"
        and lp.gather is None
        and lp.block_owner is None
        and lp.info.layer.spatial
    )


def image_rows(plan: Plan) -> tuple[ImageRows | None, ...]:
    """Per chip: how its first layer's first phase consumes the image tile, or None when
    the chip waits for its whole tile before its first layer (no work in that layer, or a
    first layer that does not read the image as a tiled map)."""
    hw = plan.hw
    if not streams_image(plan):
        return (None,) * hw.chips
    lp = plan.layers[0]
    layer, info = lp.info.layer, lp.info
    out = Tiling.of(info.out_shape, hw.mesh)
    inp = Tiling.of(info.in_shapes[0], hw.mesh)
    units = hw.chip.tile_rows
    batch = hw.system.batch
    per_row = [_row_fractions(layer, out, inp, r, units) for r in range(hw.mesh.rows)]
    rows: list[ImageRows | None] = []
    for c in range(hw.chips):
        if lp.work.cycles[c] <= 0:
            rows.append(None)
            continue
        counts, total = per_row[c // hw.mesh.cols]
        tile = int(plan.image_in_bits[c])
        steps = len(counts) * batch
        need = [-(-tile * (b * total + n) // (batch * total)) for b in range(batch) for n in counts]
        need[-1] = tile
        phase = int(lp.phase_cycles[c])
        ends = [phase * (k + 1) // steps for k in range(steps)]
        rows.append(ImageRows(tuple(need), tuple(ends)))
    return tuple(rows)


def _row_fractions(layer, out: Tiling, inp: Tiling, r: int, units: int) -> tuple[list[int], int]:
    """For chip row position ``r``: input rows the lock-step local rows 0..k need together
    (one count per local row k of the patches) and the rows of the whole tile."""
    lo_out, hi_out = int(out.row_bounds[r]), int(out.row_bounds[r + 1])
    size = hi_out - lo_out
    patch = max(1, -(-size // units))
    in_h, out_h = inp.shape.height, out.shape.height
    have = np.zeros(in_h, dtype=bool)
    have[int(inp.row_bounds[r]) : int(inp.row_bounds[r + 1])] = True  # its own share
    got = np.zeros(in_h, dtype=bool)
    counts = []
    for k in range(patch):
        rows = np.arange(k, size, patch, dtype=np.int64) + lo_out
        lo, hi = layer.input_rows(rows, rows + 1, in_h, out_h)
        for a, b in zip(np.atleast_1d(lo).tolist(), np.atleast_1d(hi).tolist(), strict=True):
            got[a:b] = True
        counts.append(int(got.sum()))
    return counts, max(int((got | have).sum()), 1)


def result_parts(plan: Plan) -> ResultParts | None:
    """When each chip's results are ready (None: the plan reads no results)."""
    if plan.stages is not None or not plan.layers or not plan.result_out_bits.any():
        return None
    names = set(plan.network.outputs)
    outputs = [i for i, lp in enumerate(plan.layers) if lp.name in names]
    if not outputs:
        return None
    result = plan.result_out_bits.astype(np.int64)
    if len(outputs) == 1:
        lp = plan.layers[outputs[0]]
        channels = lp.info.out_shape.channels
        split = lp.phase_channels
        holders = result > 0
        if (
            split is not None
            and lp.placement == "tiled"
            and lp.chip_phases is None
            and not lp.work.reduce_len
            and int(split.sum()) == channels
            and not (result % channels).any()
            and (lp.work.cycles[holders] > 0).all()
        ):
            parts = (result // channels)[:, None] * split[None, :]
            return ResultParts(outputs[0], True, tuple(tuple(p) for p in parts.tolist()))
    return ResultParts(max(outputs), False, tuple((b,) for b in result.tolist()))
