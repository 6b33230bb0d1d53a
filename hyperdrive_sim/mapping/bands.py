"""Band geometry of depth-first execution: which rows of every fused layer each band computes.

A fused stack is the network's first layers up to a point where one map alone is live (the
stack's output, read by the first non-fused layer). Every chip splits its share of the
stack output's rows into ``bands`` bands of at most ``band_rows`` rows and runs the whole
stack band by band. Going backwards through the stack, a band of a layer needs the input
rows of its window (kernel, stride, padding); a chip computes the rows of its own share
that its band needs, plus those its row neighbours' same band needs from it (their halo),
so a halo is always produced in the band that reads it.

Chips in even mesh rows run their bands top to bottom, those in odd mesh rows bottom to
top: two neighbouring mesh rows then reach their shared edge in the same band (both first
or both last), and the rows they exchange across it are exchanged band for band, never
waiting for the other chip's whole tile. Chips in one mesh row have the same rows, so
their column borders are also exchanged band for band.

Rows a band needs that an earlier band computed are overlap rows: ``cache`` keeps them in
the FMM, ``recompute`` computes them again (and receives their halo columns again). The
first band starts at a chip's own edge and the last reaches the other, so over all bands a
chip computes each row of its share once (cache) or more (recompute).

FMM per band: the image tile (held whole, with its halo), the rows of every fused map the
band holds (computed or cached), the halos of the band, and the stack output's rows
computed so far (it is kept whole for the first non-fused layer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hyperdrive_sim.mapping.tiling import DIRECTIONS, split
from hyperdrive_sim.spec.models import Mesh
from hyperdrive_sim.workload.layers import INPUT, Layer
from hyperdrive_sim.workload.network import LayerInfo, ShapedNetwork

#: layer kinds a fused stack may hold: windowed or element-wise maps, nothing that reduces
#: a map onto one chip or only re-addresses the FMM
FUSABLE = frozenset({"conv", "pool", "add"})

Interval = tuple[int, int]  # rows [lo, hi); empty when hi <= lo
#: per direction of DIRECTIONS: its row side and column side (0 above/left, 1 own, 2 below)
_SIDE_R = np.array([dr + 1 for dr, _ in DIRECTIONS])
_SIDE_C = np.array([dc + 1 for _, dc in DIRECTIONS])


@dataclass(frozen=True, eq=False)
class BandLayer:
    """One fused layer in one band; arrays are per chip (row-major)."""

    info: LayerInfo
    band: int
    #: output rows computed in this band (new rows, plus recomputed overlap rows)
    out_h: np.ndarray
    out_w: np.ndarray
    #: output rows computed for the first time, and overlap rows computed again
    new_rows: np.ndarray
    recomputed_rows: np.ndarray
    #: output rows of its map the chip holds during the band (computed or cached)
    held_rows: np.ndarray
    #: halo pixels received from each neighbour this band, ``[chip, direction]``
    halo_pixels: np.ndarray
    #: halo pixels of the band's whole input window (what the FMM holds while it runs)
    held_halo_pixels: np.ndarray


@dataclass(frozen=True, eq=False)
class Bands:
    """A fused stack cut into bands: ``layers[band][k]`` is fused layer k in that band."""

    fused: int
    band_rows: int
    count: int
    layers: tuple[tuple[BandLayer, ...], ...]
    #: FMM bits each chip needs in each band, ``[band, chip]``
    fmm_bits: np.ndarray
    #: halo bits each chip holds in each band, ``[band, chip]`` (border buffer or FMM)
    halo_bits: np.ndarray
    problems: tuple[str, ...]


def stack_problem(net: ShapedNetwork, fused: int) -> str | None:
    """Why the first ``fused`` layers cannot run as one depth-first stack (None: they can)."""
    n = len(net.infos)
    if not 1 <= fused <= n:
        return f"{fused} layers asked, the network has {n} layers (1 to {n} can be fused)"
    for info in net.infos[:fused]:
        if info.layer.kind not in FUSABLE:
            return (
                f"layer {info.layer.name!r} is a {info.layer.kind}; a fused stack holds conv, "
                f"pool and add layers only ({fused} layers asked)"
            )
    inside = {INPUT, *(i.layer.name for i in net.infos[:fused])}
    last = net.infos[fused - 1].layer.name
    for info in net.infos[fused:]:
        for ref in info.layer.inputs:
            if ref in inside and ref != last:
                return (
                    f"layer {info.layer.name!r} after the fused stack reads {ref!r} inside it; "
                    f"a stack must end where its last layer ({last!r}) is the only live map"
                )
    return None


def stack_cuts(net: ShapedNetwork) -> list[int]:
    """Every ``fused`` for which the first layers form a valid stack, shortest first."""
    return [k for k in range(1, len(net.infos) + 1) if stack_problem(net, k) is None]


def band_count(net: ShapedNetwork, mesh: Mesh, fused: int, band_rows: int) -> int:
    """Bands per chip: the largest share of the stack output's rows over ``band_rows``."""
    height = net.infos[fused - 1].out_shape.height
    return max(1, math.ceil(int(np.diff(split(height, mesh.rows)).max()) / band_rows))


def _cap(a: Interval, lo: int, hi: int) -> Interval:
    return max(a[0], lo), min(a[1], hi)


def _hull(parts: list[Interval]) -> Interval:
    parts = [p for p in parts if p[1] > p[0]]
    if not parts:
        return (0, 0)
    return min(p[0] for p in parts), max(p[1] for p in parts)


def _size(a: Interval) -> int:
    return max(0, a[1] - a[0])


def _window(layer: Layer, rows: Interval, in_size: int, out_size: int) -> Interval:
    """Input rows of output rows ``rows`` (``layer.input_rows`` in plain integers)."""
    if rows[1] <= rows[0]:
        return (0, 0)
    if layer.kind in ("conv", "pool"):  # _window of workload/layers.py, without numpy
        k, s, d, p = layer.kernel[0], layer.stride[0], layer.dilation[0], layer.padding[0]
        return max(0, rows[0] * s - p), min(in_size, (rows[1] - 1) * s - p + (k - 1) * d + 1)
    lo, hi = layer.input_rows(rows[0], rows[1], in_size, out_size)
    return int(lo), int(hi)


class _Cover:
    """Rows done so far along one mesh row's band direction: [start, f) going down, or
    [f, start) going up. ``fill``: rows between the frontier and a band's need are done
    too (every row of a chip's share is computed, as layer by layer)."""

    def __init__(self, edge: int | None, down: bool, fill: bool) -> None:
        self.f, self.down, self.fill = edge, down, fill

    def take(self, need: Interval, recompute: bool) -> tuple[Interval, Interval, Interval]:
        """(computed, overlap, held) of a band needing ``need``."""
        if need[1] <= need[0]:
            return (0, 0), (0, 0), (0, 0)
        if self.f is None:
            self.f = need[0] if self.down else need[1]
        f = self.f
        if self.down:
            held = (min(need[0], f) if self.fill else need[0], need[1])
            new = (max(f, held[0]), held[1])
            overlap = (held[0], min(f, held[1]))
            self.f = max(f, held[1])
        else:
            held = (need[0], max(need[1], f) if self.fill else need[1])
            new = (held[0], min(f, held[1]))
            overlap = (max(f, held[0]), held[1])
            self.f = min(f, held[0])
        computed = held if recompute else new
        return computed, overlap, held


def _axis_parts(layer: Layer, out_b: np.ndarray, in_b: np.ndarray, in_size: int, out_size: int):
    """Per chip column: input columns needed before, inside and after its own share."""
    before, inside, after = [], [], []
    for i in range(len(out_b) - 1):
        lo, hi = _window(layer, (int(out_b[i]), int(out_b[i + 1])), in_size, out_size)
        own_lo, own_hi = int(in_b[i]), int(in_b[i + 1])
        before.append(max(0, min(hi, own_lo) - lo))
        inside.append(max(0, min(hi, own_hi) - max(lo, own_lo)))
        after.append(max(0, hi - max(lo, own_hi)))
    return np.array(before), np.array(inside), np.array(after)


def band_geometry(
    net: ShapedNetwork,
    mesh: Mesh,
    fused: int,
    band_rows: int,
    recompute: bool,
    bits: dict[str, int],
    image_bits: np.ndarray,
    halo_in_fmm: bool,
    capacity: int | None = None,
) -> Bands:
    """Rows, halos and FMM need of every fused layer in every band on every chip.

    With ``capacity``, the bands stop after the first whose FMM need exceeds it (enough to
    say that the stack does not fit; ``count`` still gives the bands there would be).

    ``bits`` gives bits per value of each tensor, ``image_bits`` the image tile (with its
    halo) each chip holds, ``halo_in_fmm`` whether halos are held in the FMM (no border
    buffer). The stack must be valid (``stack_problem``) and ``band_rows`` >= 1.
    """
    infos = net.infos[:fused]
    names = [i.layer.name for i in infos]
    shapes = {INPUT: net.input_shape, **{i.layer.name: i.out_shape for i in infos}}
    rows_b = {t: split(s.height, mesh.rows) for t, s in shapes.items()}
    cols_b = {t: split(s.width, mesh.cols) for t, s in shapes.items()}
    readers: dict[str, list[int]] = {}
    for k, info in enumerate(infos):
        for ref in info.layer.inputs:
            readers.setdefault(ref, []).append(k)
    last = names[-1]
    count = band_count(net, mesh, fused, band_rows)
    n_rows = mesh.rows
    down = [r % 2 == 0 for r in range(n_rows)]

    owns = {t: [(int(b[r]), int(b[r + 1])) for r in range(len(b) - 1)] for t, b in rows_b.items()}

    def own(t: str, r: int) -> Interval:
        return owns[t][r]

    covers = {
        t: [_Cover(own(t, r)[0] if down[r] else own(t, r)[1], down[r], True) for r in range(n_rows)]
        for t in names
    }
    # per consumer: the input rows (own and halo) it received in earlier bands
    in_covers = [[_Cover(None, down[r], False) for r in range(n_rows)] for _ in infos]
    col_parts = []
    for info in infos:
        layer = info.layer
        if layer.arity == 1:
            src = layer.inputs[0]
            col_parts.append(
                _axis_parts(
                    _ColWindow(layer), cols_b[layer.name], cols_b[src],
                    shapes[src].width, shapes[layer.name].width,
                )
            )  # fmt: skip
        else:
            col_parts.append(None)

    problems: list[str] = []
    chips = mesh.chips
    per_band: list[tuple[BandLayer, ...]] = []
    fmm = np.zeros((count, chips), dtype=np.int64)
    halo_held = np.zeros((count, chips), dtype=np.int64)
    ltop = [own(last, r) for r in range(n_rows)]
    band_splits = [split(ltop[r][1] - ltop[r][0], count) for r in range(n_rows)]
    for b in range(count):
        computed: dict[str, list[Interval]] = {}
        rows_new: dict[str, list[int]] = {}
        rows_re: dict[str, list[int]] = {}
        rows_held: dict[str, list[int]] = {}
        for k in range(fused - 1, -1, -1):
            t = names[k]
            if t == last:
                needs = []
                for r in range(n_rows):
                    q = b if down[r] else count - 1 - b
                    lo = ltop[r][0]
                    needs.append((lo + int(band_splits[r][q]), lo + int(band_splits[r][q + 1])))
            else:
                raw = [_hull([_window(infos[m].layer, computed[names[m]][r],
                                      shapes[t].height, shapes[names[m]].height)
                              for m in readers.get(t, [])]) for r in range(n_rows)]  # fmt: skip
                needs = []
                for r in range(n_rows):
                    lo, hi = own(t, r)
                    parts = [_cap(raw[rr], lo, hi) for rr in (r - 1, r, r + 1) if 0 <= rr < n_rows]
                    needs.append(_hull(parts))
            if b == count - 1:  # the last band reaches the far edge of the chip's share
                for r in range(n_rows):
                    (lo, hi), (n_lo, n_hi), f = own(t, r), needs[r], covers[t][r].f
                    if down[r]:
                        needs[r] = (n_lo if n_hi > n_lo else f, hi)
                    else:
                        needs[r] = (lo, n_hi if n_hi > n_lo else f)
            computed[t], rows_new[t], rows_re[t], rows_held[t] = [], [], [], []
            for r in range(n_rows):
                comp, overlap, held = covers[t][r].take(needs[r], recompute)
                computed[t].append(comp)
                rows_held[t].append(_size(held))
                rows_re[t].append(_size(overlap) if recompute else 0)
                rows_new[t].append(_size(comp) - rows_re[t][-1])
        band_layers = []
        for k, info in enumerate(infos):
            t, layer = names[k], info.layer
            out_w = np.tile(np.diff(cols_b[t]), n_rows)
            halo = np.zeros((chips, len(DIRECTIONS)), dtype=np.int64)
            held_halo = np.zeros_like(halo)
            if col_parts[k] is not None:
                src = layer.inputs[0]
                parts_c = dict(zip((-1, 0, 1), col_parts[k], strict=True))
                fresh_r, need_r = [], []  # rows above, inside, below the own rows, per row
                for r in range(n_rows):
                    need = _window(layer, computed[t][r], shapes[src].height, shapes[t].height)
                    fresh, _, _ = in_covers[k][r].take(need, recompute)
                    fresh_r.append(_row_parts(fresh, own(src, r)))
                    need_r.append(_row_parts(need, own(src, r)))
                    if src != INPUT:
                        problems += _too_far(layer.name, need, r, rows_b[src], mesh, b)
                cols = np.array([parts_c[-1], parts_c[0], parts_c[1]])  # [side, col]
                for target, parts in ((halo, fresh_r), (held_halo, need_r)):
                    rows = np.array([[p[-1], p[0], p[1]] for p in parts]).T  # [side, row]
                    both = rows[:, None, :, None] * cols[None, :, None, :]  # [r side, c side]
                    target[:] = both[_SIDE_R, _SIDE_C].reshape(len(DIRECTIONS), -1).T
            band_layers.append(
                BandLayer(
                    info, b, np.repeat([_size(i) for i in computed[t]], mesh.cols),
                    out_w, np.repeat(rows_new[t], mesh.cols), np.repeat(rows_re[t], mesh.cols),
                    np.repeat(rows_held[t], mesh.cols), halo, held_halo,
                )
            )  # fmt: skip
            per_value = shapes[t].channels * bits[t]
            if t == last:  # the stack output: every row computed so far stays
                done = [_size(_done(covers[t][r], own(t, r))) for r in range(n_rows)]
                fmm[b] += np.repeat(done, mesh.cols) * out_w * per_value
            else:
                fmm[b] += band_layers[-1].held_rows * out_w * per_value
            src_bits = shapes[layer.inputs[0]].channels * bits[layer.inputs[0]]
            if layer.inputs[0] != INPUT and col_parts[k] is not None:
                halo_held[b] += held_halo.sum(axis=1) * src_bits
        fmm[b] += image_bits + (halo_held[b] if halo_in_fmm else 0)
        per_band.append(tuple(band_layers))
        if capacity is not None and int(fmm[b].max()) > capacity:
            fmm, halo_held = fmm[: b + 1], halo_held[: b + 1]
            break
    return Bands(
        fused, band_rows, count, tuple(per_band), fmm, halo_held, tuple(dict.fromkeys(problems))
    )


class _ColWindow:
    """A layer seen along its columns (``input_cols`` as ``input_rows``)."""

    kind = "columns"

    def __init__(self, layer: Layer) -> None:
        self.layer = layer

    def input_rows(self, lo, hi, in_size, out_size=None):
        return self.layer.input_cols(lo, hi, in_size, out_size)


def _row_parts(rows: Interval, own: Interval) -> dict[int, int]:
    """Rows of ``rows`` above (-1), inside (0) and below (1) the chip's own rows."""
    lo, hi = rows
    if hi <= lo:
        return {-1: 0, 0: 0, 1: 0}
    return {
        -1: max(0, min(hi, own[0]) - lo),
        0: max(0, min(hi, own[1]) - max(lo, own[0])),
        1: max(0, hi - max(lo, own[1])),
    }


def _done(cover: _Cover, own: Interval) -> Interval:
    return (own[0], cover.f) if cover.down else (cover.f, own[1])


def _too_far(name: str, need: Interval, r: int, bounds: np.ndarray, mesh: Mesh, band: int):
    lo, hi = need
    if hi <= lo:
        return []
    above = r > 0 and lo < bounds[r - 1]
    below = r + 1 < mesh.rows and hi > bounds[r + 2]
    if above or below:
        return [
            f"layer {name!r}: band {band + 1} of mesh row {r} needs rows from beyond its "
            f"neighbours (the {mesh} mesh is too fine for this map)"
        ]
    return []
