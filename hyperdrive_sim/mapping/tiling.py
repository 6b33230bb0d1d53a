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
    immediate neighbour's share. Vectorised over the chip positions (``window`` works on
    arrays).
    """
    out_bounds = np.asarray(out_bounds, dtype=np.int64)
    in_bounds = np.asarray(in_bounds, dtype=np.int64)
    lo, hi = (
        np.asarray(v, dtype=np.int64) for v in window(out_bounds[:-1], out_bounds[1:], in_size)
    )
    own_lo, own_hi = in_bounds[:-1], in_bounds[1:]
    before = np.maximum(0, np.minimum(hi, own_lo) - lo)
    after = np.maximum(0, hi - np.maximum(lo, own_hi))
    inside = np.maximum(0, np.minimum(hi, own_hi) - np.maximum(lo, own_lo))
    in_sizes = own_hi - own_lo
    too_far = np.zeros(len(before), dtype=np.int64)
    too_far[1:] |= before[1:] > in_sizes[:-1]
    too_far[:-1] |= after[:-1] > in_sizes[1:]
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


def _owners(out_bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every output row of the map along one axis, and the chip position holding it."""
    rows = np.arange(out_bounds[0], out_bounds[-1], dtype=np.int64)
    return rows, np.searchsorted(out_bounds, rows, side="right") - 1


def _interior(out_bounds, in_bounds, in_size, window) -> np.ndarray:
    """Output rows of each chip whose input window lies within the chip's own input rows."""
    out_bounds = np.asarray(out_bounds, dtype=np.int64)
    _, owner = _owners(out_bounds)
    inside = ~_border_rows(out_bounds, in_bounds, in_size, window)
    return np.bincount(owner[inside], minlength=len(out_bounds) - 1).astype(np.int64)


def _border_rows(out_bounds, in_bounds, in_size, window) -> np.ndarray:
    """Per output row: True when its input window reaches outside the owning chip's input
    rows (the row needs the halo)."""
    out_bounds = np.asarray(out_bounds, dtype=np.int64)
    in_bounds = np.asarray(in_bounds, dtype=np.int64)
    rows, owner = _owners(out_bounds)
    lo, hi = window(rows, rows + 1, in_size)
    return (lo < in_bounds[owner]) | (hi > in_bounds[owner + 1])


def _lockstep_free(out_bounds, border: np.ndarray, units: int) -> np.ndarray:
    """Per chip position along one axis: local positions (rows or columns of a Tile-PU's
    patch) at which no Tile-PU of the lock-step array reads the halo.

    A chip's share of ``size`` rows is cut into ``units`` patches of ceil(size / units)
    rows (the last ones shorter or empty); at local row r every Tile-PU computes row
    i * patch + r of the share, so r is halo-free only if none of those rows needs the
    halo (``border``, per output row of the map)."""
    out_bounds = np.asarray(out_bounds, dtype=np.int64)
    n = len(out_bounds) - 1
    sizes = np.diff(out_bounds)
    patch = -(-sizes // units)
    width = max(1, int(patch.max(initial=1)))
    rows, owner = _owners(out_bounds)
    local = (rows - out_bounds[owner]) % np.maximum(patch[owner], 1)
    touched = np.zeros(n * width, dtype=bool)
    touched[(owner * width + local)[border]] = True
    return patch - touched.reshape(n, width).sum(axis=1)


def lockstep_interior_steps(layer: Layer, out: Tiling, inp: Tiling, units: tuple[int, int]):
    """Per chip: lock-step steps of the M x N Tile-PU array (``units``) in which no Tile-PU
    reads a halo pixel, out of ceil(h / M) * ceil(w / N) steps per weight block.

    A step computes one pixel in every Tile-PU's patch, at the same local position; it
    needs the halo if any of those pixels' input windows leaves the chip's own input. A
    step is halo-free when its local row is halo-free for every Tile-PU row and its local
    column for every Tile-PU column (``_lockstep_free``): the chip can run those steps of
    its first phase before the halo arrives, the others after.
    """
    rows_of, cols_of = _windows(layer, out)
    rows = _lockstep_free(
        out.row_bounds,
        _border_rows(out.row_bounds, inp.row_bounds, inp.shape.height, rows_of),
        units[0],
    )
    cols = _lockstep_free(
        out.col_bounds,
        _border_rows(out.col_bounds, inp.col_bounds, inp.shape.width, cols_of),
        units[1],
    )
    return np.outer(rows, cols).ravel()
