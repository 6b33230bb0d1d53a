"""Band geometry of a depth-first stack, for ``verify``: which rows each band computes.

Derived here from each layer's kernel, stride, dilation and padding alone (not from the
planner's band geometry), so that the numerical run checks the model rather than repeats
it. The execution rules it follows are the model's (docs/verify.md, "Depth-first stacks"):

- every chip computes only rows of its own share of every map (the tiles of the
  layer-by-layer plan); the stack's last map is cut per chip row into ``count`` bands as
  even as possible, ``count`` = ceil(largest share / band_rows);
- chips in even mesh rows run their bands top to bottom, those in odd rows bottom to top,
  so two neighbouring chip rows reach their shared edge in the same band;
- in a band, a chip computes the rows of its share that its own or a neighbouring chip
  row's same band reads (the windows of the next layers' rows), widened to the rows it
  reached in earlier bands (so every row of a share is computed), the last band reaching
  the far edge of the share;
- ``cache`` computes only rows not computed before, ``recompute`` all of them again.

Maps are numbered ``0`` (the image) to ``L`` (the last fused layer's output); rows are
global row indices [lo, hi), empty when hi <= lo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hyperdrive_sim.workload.layers import Add, Conv, Layer, Pool

Rows = tuple[int, int]
EMPTY: Rows = (0, 0)


@dataclass(frozen=True)
class Window:
    """Input rows [lo, hi) that output rows read, clipped to the map, and the padding rows
    the window needs beyond the map's top (pad_lo) and bottom (pad_hi)."""

    lo: int
    hi: int
    pad_lo: int
    pad_hi: int


def window(layer: Layer, out: Rows, in_size: int, axis: int = 0) -> Window:
    """The input window of output rows (axis 0) or columns (axis 1) ``out`` = [lo, hi).

    Output row o reads input rows o*s - p + i*d for i in 0..k-1 (kernel k, stride s,
    dilation d, leading padding p); rows outside [0, in_size) are padding. An add reads its
    own rows.
    """
    if isinstance(layer, Add):
        return Window(out[0], out[1], 0, 0)
    if not isinstance(layer, Conv | Pool):
        raise TypeError(f"no band window for a {layer.kind} layer")
    k, s, d = layer.kernel[axis], layer.stride[axis], layer.dilation[axis]
    p = layer.padding[axis]
    start = out[0] * s - p
    stop = (out[1] - 1) * s - p + (k - 1) * d + 1
    lo, hi = max(start, 0), min(stop, in_size)
    if hi <= lo:  # the whole window is padding
        lo = hi = min(max(start, 0), in_size)
        return Window(lo, hi, stop - start, 0)
    return Window(lo, hi, lo - start, stop - hi)


def reads(layer: Layer, out: Rows, in_size: int) -> Rows:
    """Input rows (clipped) that output rows ``out`` read; empty for no rows."""
    if not size(out):
        return EMPTY
    w = window(layer, out, in_size)
    return (w.lo, w.hi) if w.hi > w.lo else EMPTY


def size(rows: Rows) -> int:
    return max(0, rows[1] - rows[0])


def hull(parts: Sequence[Rows]) -> Rows:
    """The smallest range holding every non-empty part."""
    full = [p for p in parts if p[1] > p[0]]
    return (min(p[0] for p in full), max(p[1] for p in full)) if full else EMPTY


def cap(rows: Rows, share: Rows) -> Rows:
    lo, hi = max(rows[0], share[0]), min(rows[1], share[1])
    return (lo, hi) if hi > lo else EMPTY


def band_count(share_sizes: Sequence[int], band_rows: int) -> int:
    """Bands per chip: the largest share of the last map over ``band_rows``, rounded up."""
    if band_rows < 1:
        raise ValueError(f"band_rows must be >= 1, got {band_rows}")
    return max(1, -(-max(share_sizes) // band_rows))


def band_parts(share: Rows, count: int) -> list[Rows]:
    """``share`` cut into ``count`` parts top to bottom, as even as possible: boundary k is
    lo + ceil(k * rows / count) (the later parts are the larger)."""
    lo, n = share[0], size(share)
    bounds = [lo + -(-k * n // count) for k in range(count + 1)]
    return [(bounds[k], bounds[k + 1]) for k in range(count)]


def downward(chip_row: int) -> bool:
    """Even chip rows run their bands top to bottom, odd rows bottom to top."""
    return chip_row % 2 == 0


@dataclass(frozen=True)
class LayerRows:
    """One fused layer's output rows in one band on one chip row."""

    #: rows of the chip's share read in this band by its own or a neighbouring chip row
    need: Rows
    #: rows held during the band: ``need`` widened to the rows reached in earlier bands
    held: Rows
    #: rows computed: those of ``held`` not computed before (cache) or all of ``held``
    computed: Rows
    #: rows of ``held`` computed in an earlier band (kept with cache, recomputed otherwise)
    overlap: Rows


class _Frontier:
    """How far a chip row's bands have reached in one map's share."""

    def __init__(self, share: Rows, down: bool):
        self.share, self.down = share, down
        self.f = share[0] if down else share[1]

    def take(self, need: Rows, last: bool, recompute: bool) -> LayerRows:
        (lo, hi), f = self.share, self.f
        if last:  # the last band reaches the far edge of the share
            if self.down:
                need = (need[0] if size(need) else f, hi)
            else:
                need = (lo, need[1] if size(need) else f)
        if not size(need):
            return LayerRows(EMPTY, EMPTY, EMPTY, EMPTY)
        if self.down:
            held = (min(need[0], f), need[1])
            new = (max(f, held[0]), held[1])
            overlap = (held[0], min(f, held[1]))
            self.f = max(f, held[1])
        else:
            held = (need[0], max(need[1], f))
            new = (held[0], min(f, held[1]))
            overlap = (max(f, held[0]), held[1])
            self.f = min(f, held[0])
        new, overlap = (r if size(r) else EMPTY for r in (new, overlap))
        return LayerRows(need, held, held if recompute else new, overlap)


def stack_rows(
    layers: Sequence[Layer],
    sources: Sequence[Sequence[int]],
    heights: Sequence[int],
    shares: Sequence[Sequence[Rows]],
    band_rows: int,
    recompute: bool,
) -> list[list[list[LayerRows]]]:
    """``rows[b][k][r]``: fused layer k's rows in band b on chip row r.

    ``sources[k]`` are the maps layer k reads (0: the image, m: layer m-1's output),
    ``heights[m]`` map m's height and ``shares[m][r]`` chip row r's own rows of map m.
    """
    n, chip_rows = len(layers), len(shares[0])
    readers = {m: [k for k in range(n) if m in sources[k]] for m in range(1, n + 1)}
    count = band_count([size(s) for s in shares[n]], band_rows)
    fronts = [
        [_Frontier(shares[m][r], downward(r)) for r in range(chip_rows)] for m in range(n + 1)
    ]
    out = []
    for b in range(count):
        band: list[list[LayerRows]] = [[] for _ in range(n)]
        for m in range(n, 0, -1):  # map m is layer m-1's output; its readers come later
            needs = []
            for r in range(chip_rows):
                if m == n:
                    q = b if downward(r) else count - 1 - b
                    needs.append(band_parts(shares[n][r], count)[q])
                    continue
                parts = [
                    cap(reads(layers[k], band[k][rr].computed, heights[m]), shares[m][r])
                    for k in readers[m]
                    for rr in (r - 1, r, r + 1)
                    if 0 <= rr < chip_rows
                ]
                needs.append(hull(parts))
            band[m - 1] = [
                fronts[m][r].take(needs[r], b == count - 1, recompute) for r in range(chip_rows)
            ]
        out.append(band)
    return out
