"""A depth-first stack computed band by band on every chip, with real numbers.

Every chip computes its own columns of every map of the stack (the column tiles of the
layer-by-layer plan) and, band by band, only the rows the band's rows of the next layer
need (``bands.chip_bands``). Per band and layer:

- the rows the previous band already held are taken from the chip's memory (``cache``) or
  computed again (``recompute``);
- the stack's input (the image) is read from off-chip, window columns included;
- the halo columns of the band's new rows come from the west and east neighbours, which run
  the same band at the same time (chips in a mesh row share their row tiles, hence their
  bands). Rows are not exchanged between chip rows: the chip above computes its last rows
  only in its last band, while the chip below needs them in its first, so each chip
  computes the rows above and below its tile that its bands need itself (counted as
  ``foreign`` rows, computed by two chips).

Every value a band computes is compared with the monolithic reference at its position, and
every row a window misses (a wrong overlap) is read as zeros and counted, so a geometry
error shows as a mismatch. The chip's memory is measured while it runs: after each layer of
a band, the rows it holds of every map (window columns included) plus the stack's output so
far; a map is released, or cut to the next band's overlap, once the next layer has read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hyperdrive_sim.errors import SimulationError
from hyperdrive_sim.mapping.tiling import Tiling
from hyperdrive_sim.spec.models import Mesh
from hyperdrive_sim.verify import bands as geo
from hyperdrive_sim.verify import reference as ref
from hyperdrive_sim.verify.mesh import Span, Stored, _check_link, axis_spans
from hyperdrive_sim.verify.numerics import Precision, abs_error, activate, shift
from hyperdrive_sim.workload.layers import Conv
from hyperdrive_sim.workload.network import LayerInfo

OVERLAPS = ("cache", "recompute")


@dataclass(frozen=True)
class ChipBand:
    """What one chip did in one band (rows per fused layer, in stack order)."""

    chip: int
    band: int
    #: rows [lo, hi) of every map the band needs (maps[0]: the stack's input)
    maps: tuple[tuple[int, int], ...]
    #: output rows computed per layer
    computed: tuple[int, ...]
    #: of those, rows this chip had computed in an earlier band (recompute)
    recomputed: tuple[int, ...]
    #: of those, rows outside the chip's own row tile of the layer's map
    foreign: tuple[int, ...]
    #: halo bits received from the west and east neighbours
    halo_bits: int
    #: bits of the stack's input read from off-chip
    offchip_bits: int
    #: most FMM bits held at once during the band
    fmm_peak_bits: int
    #: rows of every map held at that moment (the stack's output: rows so far)
    live_rows: tuple[int, ...]
    #: window rows read as zeros because the band did not hold them (0 unless broken)
    missing_rows: int
    max_abs_err: float


@dataclass(frozen=True)
class BandTotal:
    """One band index over every chip that has it (chip rows may have different counts)."""

    band: int
    chips: int
    halo_bits: int
    offchip_bits: int
    computed_rows: int
    recomputed_rows: int
    foreign_rows: int
    #: the largest of the chips' peaks
    fmm_peak_bits: int
    max_abs_err: float


@dataclass(frozen=True)
class LayerResult:
    """One fused layer over all bands and chips."""

    name: str
    max_abs_err: float
    max_abs_ref: float
    halo_pixels: int
    link_bits: int
    missing_rows: int
    finite: bool


@dataclass(frozen=True)
class BandedRun:
    """The depth-first stack as the chips computed it."""

    layers: tuple[str, ...]
    band_rows: int
    overlap: str
    chip_bands: tuple[ChipBand, ...]
    results: tuple[LayerResult, ...]
    #: the stack's output as the chips hold it (activated) and its raw values, assembled
    output: Stored
    raw_output: np.ndarray

    @property
    def band_count(self) -> int:
        """Bands of the chip row with the most."""
        return 1 + max(cb.band for cb in self.chip_bands)

    @property
    def bands(self) -> tuple[BandTotal, ...]:
        out = []
        for b in range(self.band_count):
            cbs = [cb for cb in self.chip_bands if cb.band == b]
            out.append(
                BandTotal(
                    b,
                    len(cbs),
                    sum(cb.halo_bits for cb in cbs),
                    sum(cb.offchip_bits for cb in cbs),
                    sum(sum(cb.computed) for cb in cbs),
                    sum(sum(cb.recomputed) for cb in cbs),
                    sum(sum(cb.foreign) for cb in cbs),
                    max(cb.fmm_peak_bits for cb in cbs),
                    max(cb.max_abs_err for cb in cbs),
                )
            )
        return tuple(out)

    @property
    def max_abs_err(self) -> float:
        return max(r.max_abs_err for r in self.results)

    def table(self) -> str:
        """One line per band: chips, traffic, rows computed, FMM peak and max |error|."""
        lines = [
            f"depth-first stack: {', '.join(self.layers)} ({len(self.layers)} layers), "
            f"band_rows {self.band_rows}, overlap {self.overlap}: {self.band_count} bands",
            f"{'band':>4} {'chips':>5} {'halo bits':>10} {'off-chip bits':>13} "
            f"{'rows':>6} {'recomputed':>10} {'foreign':>7} {'FMM peak bits':>13} "
            f"{'max|err|':>9}",
        ]
        for t in self.bands:
            lines.append(
                f"{t.band:>4} {t.chips:>5} {t.halo_bits:>10} {t.offchip_bits:>13} "
                f"{t.computed_rows:>6} {t.recomputed_rows:>10} {t.foreign_rows:>7} "
                f"{t.fmm_peak_bits:>13} {t.max_abs_err:>9.4g}"
            )
        return "\n".join(lines)


def run_bands(
    infos: Sequence[LayerInfo],
    mesh: Mesh,
    weights: dict[str, np.ndarray],
    image: np.ndarray,
    references: Sequence[np.ndarray],
    *,
    precision: Precision,
    act_bits: int,
    routing: str,
    band_rows: int,
    overlap: str,
    break_halo: str | None = None,
) -> BandedRun:
    """Compute the fused layers ``infos`` (a chain from the image) band by band.

    ``references[j]`` is layer j's raw output on the whole map (the monolithic reference).
    ``break_halo`` "edges" drops the band halos, "overlap" makes every band after the first
    lose its first overlap row (tests).
    """
    if overlap not in OVERLAPS:
        raise ValueError(f"overlap must be one of {OVERLAPS}, got {overlap!r}")
    runner = _Runner(infos, mesh, weights, image, references, precision, act_bits, routing)
    return runner.run(band_rows, overlap, break_halo)


class _Runner:
    def __init__(self, infos, mesh, weights, image, references, precision, act_bits, routing):
        self.infos, self.mesh, self.weights, self.image = list(infos), mesh, weights, image
        self.refs, self.precision = references, precision
        self.act_bits, self.routing = act_bits, routing
        self.layers = [info.layer for info in self.infos]
        shapes = [self.infos[0].in_shapes[0], *(info.out_shape for info in self.infos)]
        self.heights = [s.height for s in shapes]
        self.channels = [s.channels for s in shapes]
        self.tilings = [Tiling.of(s, mesh) for s in shapes]
        #: cols[j][c]: layer j's column window on chip column c (j = 1..L; cols[0] unused)
        self.cols: list[list[Span]] = [[]]
        for j, layer in enumerate(self.layers, 1):
            out_t, in_t = self.tilings[j], self.tilings[j - 1]
            spans = axis_spans(layer, 1, out_t.col_bounds, in_t.col_bounds, shapes[j - 1].width)
            self.cols.append(spans)

    def too_far(self) -> list[str]:
        """Layers whose column halo reaches beyond the west/east neighbours."""
        return [
            f"layer {self.layers[j - 1].name!r}: a band's column halo reaches beyond the "
            f"neighbouring chips of the {self.mesh} mesh"
            for j in range(2, len(self.layers) + 1)
            if any(span.too_far for span in self.cols[j])
        ]

    def _own_cols(self, m: int, c: int) -> tuple[int, int]:
        bounds = self.tilings[m].col_bounds
        return int(bounds[c]), int(bounds[c + 1])

    def run(self, band_rows: int, overlap: str, break_halo: str | None) -> BandedRun:
        mesh, n = self.mesh, len(self.layers)
        if problems := self.too_far():
            raise SimulationError(problems[0])
        out_t = self.tilings[n]
        tiles: list[np.ndarray] = []
        raw_tiles: list[np.ndarray] = []
        for chip in range(mesh.chips):
            r, c = divmod(chip, mesh.cols)
            lo, hi = self._own_cols(n, c)
            shape = (self.channels[n], int(out_t.row_sizes[r]), hi - lo)
            tiles.append(np.zeros(shape, dtype=self.image.dtype))
            raw_tiles.append(np.zeros(shape, dtype=self.image.dtype))
        self.stats = [_LayerStats() for _ in range(n)]
        records: list[ChipBand] = []
        for r in range(mesh.rows):
            tile = (int(out_t.row_bounds[r]), int(out_t.row_bounds[r + 1]))
            bands = geo.chip_bands(self.layers, self.heights, tile, band_rows)
            records += self._chip_row(r, bands, overlap, break_halo, tiles, raw_tiles)
        results = tuple(
            LayerResult(
                layer.name,
                s.err,
                float(np.abs(self.refs[j].astype(np.float64)).max()) if self.refs[j].size else 0,
                s.halo_pixels,
                s.link_bits,
                s.missing,
                s.finite,
            )
            for j, (layer, s) in enumerate(zip(self.layers, self.stats, strict=True))
        )
        output = Stored("tiled", tiles, out_t)
        raw = Stored("tiled", raw_tiles, out_t).assemble()
        return BandedRun(
            tuple(layer.name for layer in self.layers),
            band_rows,
            overlap,
            tuple(sorted(records, key=lambda cb: (cb.band, cb.chip))),
            results,
            output,
            raw,
        )

    def _chip_row(self, r, bands, overlap, break_halo, tiles, raw_tiles) -> list[ChipBand]:
        """Every band of mesh row ``r``, its chips in lock step."""
        mesh, n, bits = self.mesh, len(self.layers), self.act_bits
        chips = [r * mesh.cols + c for c in range(mesh.cols)]
        #: held[c][m]: rows of map m on chip column c, each (channels, window columns)
        held: list[list[dict[int, np.ndarray]]] = [[{} for _ in range(n)] for _ in chips]
        done: list[list[set[int]]] = [[set() for _ in range(n + 1)] for _ in chips]
        out_rows = [0] * len(chips)  # rows of the stack's output written so far
        records = []
        for b, band in enumerate(bands):
            prev = bands[b - 1] if b and overlap == "cache" else None
            nxt = bands[b + 1] if b + 1 < len(bands) else None
            acc = [_BandAcc(n) for _ in chips]
            for j in range(1, n + 1):
                if j == 1:  # the stack's input from off-chip, window columns included
                    rows = geo.new_rows(prev.maps[0] if prev else None, band.maps[0])
                    for c in range(mesh.cols):
                        span = self.cols[1][c]
                        for row in range(*rows):
                            held[c][0][row] = self.image[:, row, span.lo : span.hi].copy()
                        width = span.hi - span.lo
                        acc[c].offchip_values += (rows[1] - rows[0]) * width * self.channels[0]
                rows = band.maps[j]
                if j < n:
                    rows = geo.new_rows(prev.maps[j] if prev else None, rows)
                blocks = []
                for c, chip in enumerate(chips):
                    block = self._compute(j, r, c, b, band, rows, held[c][j - 1], acc[c],
                                          break_halo, overlap, bands)  # fmt: skip
                    blocks.append(block)
                    self._account(j, r, c, rows, done[c][j], acc[c])
                    if j == n:
                        lo = rows[0] - int(self.tilings[n].row_bounds[r])
                        raw_tiles[chip][:, lo : lo + rows[1] - rows[0]] = block
                        act = activate(block, shift(self.infos[j - 1]), self.precision)
                        tiles[chip][:, lo : lo + rows[1] - rows[0]] = act
                        out_rows[c] += rows[1] - rows[0]
                if j < n:
                    self._store_and_exchange(j, r, rows, blocks, held, acc, chips, break_halo)
                for c in range(mesh.cols):  # the moment after layer j: inputs and outputs held
                    live = [sum(1 for _ in held[c][m]) for m in range(n)] + [out_rows[c]]
                    size = sum(a.size for m in range(n) for a in held[c][m].values()) + out_rows[
                        c
                    ] * self.channels[n] * self._width(n, c)
                    if size * bits > acc[c].peak:
                        acc[c].peak, acc[c].live = size * bits, tuple(live)
                    # map j-1 has been read: keep only what the next band needs
                    keep = None
                    if overlap == "cache" and nxt is not None:
                        keep = geo.kept_rows(band.maps[j - 1], nxt.maps[j - 1])
                    held[c][j - 1] = {
                        row: a
                        for row, a in held[c][j - 1].items()
                        if keep is not None and keep[0] <= row < keep[1]
                    }
            for c, chip in enumerate(chips):
                a = acc[c]
                records.append(
                    ChipBand(
                        chip, b, band.maps, tuple(a.computed), tuple(a.recomputed),
                        tuple(a.foreign), a.halo_values * self.act_bits,
                        a.offchip_values * self.act_bits, a.peak, a.live, a.missing, a.err,
                    )
                )  # fmt: skip
        return records

    def _width(self, m: int, c: int) -> int:
        lo, hi = self._own_cols(m, c)
        return hi - lo

    def _compute(self, j, r, c, b, band, rows, inputs, acc, break_halo, overlap, bands):
        """Layer j's rows ``rows`` on chip (r, c) from the rows of map j-1 it holds."""
        layer = self.layers[j - 1]
        cs = self.cols[j][c]
        own = self._own_cols(j, c)
        want = (self.channels[j], rows[1] - rows[0], own[1] - own[0])
        if rows[1] == rows[0]:
            return np.zeros(want, dtype=self.image.dtype)
        win = geo.window(layer, rows, self.heights[j - 1])
        x = np.zeros((self.channels[j - 1], win.hi - win.lo, cs.hi - cs.lo), self.image.dtype)
        lost = None
        if break_halo == "overlap" and b and j >= 2:  # the band's first overlap row is lost
            overlap_rows = geo.kept_rows(bands[b - 1].maps[j - 1], band.maps[j - 1])
            if overlap_rows[1] > overlap_rows[0]:
                lost = overlap_rows[0]
        for row in range(win.lo, win.hi):
            got = inputs.get(row)
            if got is None or row == lost:
                acc.missing += 1
                self.stats[j - 1].missing += 1
                continue
            x[:, row - win.lo] = got
        pads = (win.pad_lo, cs.pad_lo, win.pad_hi, cs.pad_hi)
        if isinstance(layer, Conv):
            w = self.weights[layer.name]
            block = ref.conv2d(x, w, layer.stride, pads, layer.dilation, layer.groups)
        else:
            block = ref.pool2d(x, layer.kernel, layer.stride, pads, layer.dilation, layer.mode)
        if block.shape != want:
            raise SimulationError(
                f"layer {layer.name!r}: chip ({r},{c}) computed a {block.shape} band block, "
                f"expected {want}"
            )
        want_values = self.refs[j - 1][:, rows[0] : rows[1], own[0] : own[1]]
        err = abs_error(block, want_values)
        e = float(err.max()) if err.size else 0.0
        acc.err = max(acc.err, e)
        stats = self.stats[j - 1]
        stats.err = max(stats.err, e)
        stats.finite = stats.finite and bool(np.isfinite(want_values).all())
        return block

    def _account(self, j, r, c, rows, done: set[int], acc) -> None:
        own = self.tilings[j].row_bounds
        new = range(*rows)
        acc.computed[j - 1] += len(new)
        acc.recomputed[j - 1] += sum(1 for row in new if row in done)
        acc.foreign[j - 1] += sum(1 for row in new if not own[r] <= row < own[r + 1])
        done.update(new)

    def _store_and_exchange(self, j, r, rows, blocks, held, acc, chips, break_halo) -> None:
        """Activated rows of map j into each chip's window of layer j+1, then the halo
        columns of those rows from the west and east neighbours."""
        mesh, cols_next = self.mesh, self.cols[j + 1]
        acts = [activate(block, shift(self.infos[j - 1]), self.precision) for block in blocks]
        for c in range(mesh.cols):
            span, own = cols_next[c], self._own_cols(j, c)
            (a, b) = span.pieces[1]
            for i, row in enumerate(range(*rows)):
                line = np.zeros((self.channels[j], span.hi - span.lo), dtype=self.image.dtype)
                line[:, a - span.lo : b - span.lo] = acts[c][:, i, a - own[0] : b - own[0]]
                held[c][j][row] = line
        for d in range(mesh.cols):  # receiver column d
            span = cols_next[d]
            for side, s in ((0, d - 1), (2, d + 1)):
                a, b = span.pieces[side]
                if b <= a or rows[1] <= rows[0]:
                    continue
                _check_link(chips[s], chips[d], chips[s], mesh.cols, self.routing)
                values = self.channels[j] * (rows[1] - rows[0]) * (b - a)
                acc[d].halo_values += values
                self.stats[j].halo_pixels += (rows[1] - rows[0]) * (b - a)
                self.stats[j].link_bits += values * self.act_bits
                if break_halo == "edges":
                    continue
                src = self._own_cols(j, s)
                piece = acts[s][:, :, a - src[0] : b - src[0]]
                for i, row in enumerate(range(*rows)):
                    held[d][j][row][:, a - span.lo : b - span.lo] = piece[:, i]


@dataclass
class _LayerStats:
    err: float = 0.0
    halo_pixels: int = 0
    link_bits: int = 0
    missing: int = 0
    finite: bool = True


class _BandAcc:
    def __init__(self, layers: int):
        self.computed = [0] * layers
        self.recomputed = [0] * layers
        self.foreign = [0] * layers
        self.halo_values = 0
        self.offchip_values = 0
        self.peak = 0
        self.live: tuple[int, ...] = ()
        self.missing = 0
        self.err = 0.0
