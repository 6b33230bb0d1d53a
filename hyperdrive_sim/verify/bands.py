"""Band geometry of a depth-first stack, for ``verify``: which rows each band needs.

Derived here from each layer's kernel, stride, dilation and padding alone (not from the
planner), so that the numerical run checks the model's band geometry rather than repeats
it. Rows are global row indices of a map; ``maps[0]`` is the stack's input and ``maps[m]``
the output of its m-th layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hyperdrive_sim.workload.layers import Conv, Layer, Pool

Rows = tuple[int, int]


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
    dilation d, leading padding p); rows outside [0, in_size) are padding.
    """
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


@dataclass(frozen=True)
class Band:
    """One band of one chip row: the rows of every map it needs, ``maps[L]`` being the
    band's own output rows of the stack's last layer."""

    index: int
    maps: tuple[Rows, ...]


def chip_bands(
    layers: Sequence[Layer], heights: Sequence[int], tile: Rows, band_rows: int
) -> tuple[Band, ...]:
    """Bands of a chip whose tile of the last layer's map is rows ``tile``.

    ``heights[m]`` is the height of map m (0: the stack's input). The tile is cut from its
    top into bands of ``band_rows`` output rows (the last one shorter); each layer's rows
    are the window of the next layer's rows.
    """
    if band_rows < 1:
        raise ValueError(f"band_rows must be >= 1, got {band_rows}")
    if len(heights) != len(layers) + 1:
        raise ValueError("one height per map: the stack's input and every layer's output")
    bands = []
    for index, lo in enumerate(range(tile[0], tile[1], band_rows)):
        maps = [(lo, min(lo + band_rows, tile[1]))]
        for m in reversed(range(len(layers))):
            w = window(layers[m], maps[0], heights[m])
            maps.insert(0, (w.lo, w.hi))
        bands.append(Band(index, tuple(maps)))
    return tuple(bands)


def kept_rows(held: Rows, wanted: Rows) -> Rows:
    """Rows of ``wanted`` already in ``held`` (the overlap a cache keeps); empty as (x, x)."""
    lo, hi = max(held[0], wanted[0]), min(held[1], wanted[1])
    return (lo, hi) if hi > lo else (wanted[0], wanted[0])


def new_rows(held: Rows | None, wanted: Rows) -> Rows:
    """Rows of ``wanted`` a band computes when the previous band held rows ``held`` and the
    cache kept their overlap (None: nothing kept, every row is computed).

    Windows of consecutive bands only move down, so the rest is one range below the overlap.
    """
    if held is None or wanted[0] >= held[1] or wanted[1] <= held[0]:
        return wanted
    if held[0] > wanted[0]:
        raise ValueError(f"rows {wanted} start above the held rows {held}")
    return min(held[1], wanted[1]), wanted[1]
