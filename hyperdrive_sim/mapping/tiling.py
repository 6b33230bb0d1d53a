"""Spatial tiling of feature maps over the chip mesh, and the halo each chip needs.

Every tiled map of H x W pixels is split over the mesh rows and columns as evenly as
possible, with chip boundaries at ceil(k * H / rows), independently per tensor.
A layer's chip computes its share of the output map; the input rows and columns it needs
follow from the layer's window (kernel, stride, padding, dilation). What it needs beyond
its own share of the input map is its halo, received from the 8 neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperdrive_sim.spec.models import Mesh
from hyperdrive_sim.workload.layers import Layer, Shape

#: Neighbour directions (row offset, column offset): 4 edges, then 4 corners.
DIRECTIONS: tuple[tuple[int, int], ...] = (
    (-1, 0),
    (1, 0),
    (0, -1),
    (0, 1),
    (-1, -1),
    (-1, 1),
    (1, -1),
    (1, 1),
)
DIRECTION_NAMES = ("N", "S", "W", "E", "NW", "NE", "SW", "SE")


def split(size: int, parts: int) -> np.ndarray:
    """Boundaries (parts + 1 of them) of an as-even-as-possible split of ``size``.

    Boundary k is ceil(k * size / parts): shares differ by at most one pixel, and the
    boundaries of a map and of its 2x-strided successor line up within one pixel, so
    halos stay with the immediate neighbours through a whole pyramid.
    """
    k = np.arange(parts + 1, dtype=np.int64)
    return -(-k * size // parts)


@dataclass(frozen=True, eq=False)
class Tiling:
    """One map split over the mesh: row and column boundaries of every chip's share."""

    shape: Shape
    row_bounds: np.ndarray
    col_bounds: np.ndarray

    @classmethod
    def of(cls, shape: Shape, mesh: Mesh) -> Tiling:
        return cls(shape, split(shape.height, mesh.rows), split(shape.width, mesh.cols))

    @property
    def row_sizes(self) -> np.ndarray:
        return np.diff(self.row_bounds)

    @property
    def col_sizes(self) -> np.ndarray:
        return np.diff(self.col_bounds)

    def chip_pixels(self) -> np.ndarray:
        """Pixels held by each chip, indexed row-major (chip = r * cols + c)."""
        return np.outer(self.row_sizes, self.col_sizes).ravel()

    @property
    def covers_mesh(self) -> bool:
        """False when some chip row or column would get no pixels."""
        return bool(self.row_sizes.min() > 0 and self.col_sizes.min() > 0)


def _axis_parts(out_bounds, in_bounds, in_size, window) -> tuple[np.ndarray, ...]:
    """Per chip position along one axis: rows needed before, inside and after its own share.

    Returns (before, inside, after, too_far) where too_far flags a halo that reaches past the
    immediate neighbour's share.
    """
    n = len(out_bounds) - 1
    before, inside, after, too_far = (np.zeros(n, dtype=np.int64) for _ in range(4))
    in_sizes = np.diff(in_bounds)
    for i in range(n):
        lo, hi = (int(v) for v in window(int(out_bounds[i]), int(out_bounds[i + 1]), in_size))
        own_lo, own_hi = int(in_bounds[i]), int(in_bounds[i + 1])
        before[i] = max(0, min(hi, own_lo) - lo)
        after[i] = max(0, hi - max(lo, own_hi))
        inside[i] = max(0, min(hi, own_hi) - max(lo, own_lo))
        too_far[i] = (i > 0 and before[i] > in_sizes[i - 1]) or (
            i < n - 1 and after[i] > in_sizes[i + 1]
        )
    return before, inside, after, too_far


@dataclass(frozen=True, eq=False)
class Halo:
    """Pixels each chip needs from each neighbour (``pixels[chip, direction]``)."""

    pixels: np.ndarray
    #: chips whose halo would have to come from beyond an immediate neighbour
    too_far: np.ndarray
    #: output rows/cols per chip that can be computed without any halo
    interior_pixels: np.ndarray


def halo(layer: Layer, out: Tiling, inp: Tiling) -> Halo:
    """Halo pixel counts of ``layer`` for every chip and each of its 8 neighbours."""
    rows_of, cols_of = _windows(layer, out)
    rows = _axis_parts(out.row_bounds, inp.row_bounds, inp.shape.height, rows_of)
    cols = _axis_parts(out.col_bounds, inp.col_bounds, inp.shape.width, cols_of)
    parts_r = {-1: rows[0], 0: rows[1], 1: rows[2]}
    parts_c = {-1: cols[0], 0: cols[1], 1: cols[2]}
    pixels = np.stack([np.outer(parts_r[dr], parts_c[dc]).ravel() for dr, dc in DIRECTIONS], axis=1)
    too_far = np.logical_or.outer(rows[3].astype(bool), cols[3].astype(bool)).ravel()
    interior = np.outer(
        _interior(out.row_bounds, inp.row_bounds, inp.shape.height, rows_of),
        _interior(out.col_bounds, inp.col_bounds, inp.shape.width, cols_of),
    ).ravel()
    return Halo(pixels, too_far, interior)


def _windows(layer: Layer, out: Tiling):
    """``layer.input_rows`` / ``input_cols`` with the output map's size bound."""
    h, w = out.shape.height, out.shape.width
    return (
        lambda lo, hi, n: layer.input_rows(lo, hi, n, h),
        lambda lo, hi, n: layer.input_cols(lo, hi, n, w),
    )


def _interior(out_bounds, in_bounds, in_size, window) -> np.ndarray:
    """Output rows of each chip whose input window lies within the chip's own input rows."""
    n = len(out_bounds) - 1
    counts = np.zeros(n, dtype=np.int64)
    for i in range(n):
        rows = np.arange(out_bounds[i], out_bounds[i + 1])
        lo, hi = window(rows, rows + 1, in_size)
        counts[i] = np.count_nonzero((lo >= in_bounds[i]) & (hi <= in_bounds[i + 1]))
    return counts
