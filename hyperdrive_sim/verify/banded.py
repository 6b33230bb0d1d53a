"""A depth-first stack computed band by band on every chip, with real numbers.

Every chip holds only rows of its own share of every map (the tiles of the layer-by-layer
plan) and computes, band by band, the rows ``bands.stack_rows`` gives it. In each band,
layer after layer, all chips in lock step:

- a layer that reads the image takes its window from the image tile (with its halo) that
  the chip holds whole from off-chip;
- any other conv or pool first receives the halo of its window for the band from its
  neighbours: the rows and columns of the window outside the chip's share that it did not
  receive in an earlier band (``cache``; with ``recompute`` all of them again). Each piece
  is cut by the sending chip from the rows of its share it holds *at that moment*, and
  carried along ``halo_transfers(...).links`` (a relayed corner is forwarded by the
  intermediate chip). A row the sender does not hold (not yet computed, or already
  released) arrives as zeros and is counted as missing;
- the chip computes its rows from its own rows and what it received, and compares every
  value with the monolithic reference at its position.

After a band, with ``cache`` a chip keeps the rows of its share that a later band (its own
or a neighbour's) reads and the received halo rows that a later window reads; with
``recompute`` it keeps only the stack's output. The memory a chip holds is measured after
every layer: the image tile, the rows of its share of every map (the stack's output so far
included) and, apart, the received halo rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hyperdrive_sim.errors import SimulationError
from hyperdrive_sim.mapping.routes import halo_transfers
from hyperdrive_sim.mapping.tiling import DIRECTIONS, Tiling
from hyperdrive_sim.spec.models import Mesh
from hyperdrive_sim.verify import bands as geo
from hyperdrive_sim.verify import reference as ref
from hyperdrive_sim.verify.mesh import Span, Stored, _check_link, axis_spans
from hyperdrive_sim.verify.numerics import Precision, abs_error, activate, shift
from hyperdrive_sim.workload.layers import INPUT, Add, Conv
from hyperdrive_sim.workload.network import LayerInfo

OVERLAPS = ("cache", "recompute")


class TooFar(SimulationError):
    """A band's halo reaches beyond the neighbouring chips (the mesh is too fine)."""


@dataclass(frozen=True)
class ChipBand:
    """What one chip did in one band; tuples hold one entry per fused layer."""

    chip: int
    band: int
    #: output rows computed; of them computed for the first time; computed again
    computed: tuple[int, ...]
    new: tuple[int, ...]
    recomputed: tuple[int, ...]
    #: halo pixels of each layer's input window received in this band, per direction
    #: (``mapping.tiling.DIRECTIONS``); a layer reading the image has them from off-chip
    halo_pixels: tuple[tuple[int, ...], ...]
    #: bits received from neighbours (the image's halo excluded), and carried per hop
    halo_bits: int
    link_bits: int
    #: most FMM bits held at once: image tile, rows of the chip's share of every map
    fmm_peak_bits: int
    #: received halo bits held at that moment
    halo_held_bits: int
    #: rows of every map held at that moment (map 0 the image, the last the stack's output)
    live_rows: tuple[int, ...]
    #: window rows (per column part) read as zeros because the chip did not hold them
    missing: int
    max_abs_err: float


@dataclass(frozen=True)
class BandTotal:
    """One band over every chip: sums, and the largest FMM peak of any chip."""

    band: int
    halo_bits: int
    link_bits: int
    computed_rows: int
    recomputed_rows: int
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
    missing: int
    finite: bool


@dataclass(frozen=True)
class BandedRun:
    """The depth-first stack as the chips computed it."""

    layers: tuple[str, ...]
    band_rows: int
    overlap: str
    band_count: int
    chip_bands: tuple[ChipBand, ...]
    results: tuple[LayerResult, ...]
    #: bits of the image tile (with its halo) each chip holds from off-chip
    image_bits: tuple[int, ...]
    #: the stack's output as the chips hold it (activated), and its raw values assembled
    output: Stored
    raw_output: np.ndarray = field(repr=False)

    @property
    def bands(self) -> tuple[BandTotal, ...]:
        out = []
        for b in range(self.band_count):
            cbs = [cb for cb in self.chip_bands if cb.band == b]
            out.append(
                BandTotal(
                    b,
                    sum(cb.halo_bits for cb in cbs),
                    sum(cb.link_bits for cb in cbs),
                    sum(sum(cb.computed) for cb in cbs),
                    sum(sum(cb.recomputed) for cb in cbs),
                    max(cb.fmm_peak_bits for cb in cbs),
                    max(cb.max_abs_err for cb in cbs),
                )
            )
        return tuple(out)

    @property
    def max_abs_err(self) -> float:
        return max(r.max_abs_err for r in self.results)

    @property
    def missing(self) -> int:
        return sum(r.missing for r in self.results)

    def table(self) -> str:
        """One line per band: traffic, rows computed, FMM peak and max |error|."""
        lines = [
            f"depth-first stack: {', '.join(self.layers)} ({len(self.layers)} layers), "
            f"band_rows {self.band_rows}, overlap {self.overlap}: {self.band_count} bands",
            f"{'band':>4} {'halo bits':>10} {'link bits':>10} {'rows':>6} {'recomputed':>10} "
            f"{'FMM peak bits':>13} {'max|err|':>9}",
        ]
        for t in self.bands:
            lines.append(
                f"{t.band:>4} {t.halo_bits:>10} {t.link_bits:>10} {t.computed_rows:>6} "
                f"{t.recomputed_rows:>10} {t.fmm_peak_bits:>13} {t.max_abs_err:>9.4g}"
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
    """Compute the fused layers ``infos`` band by band on every chip.

    ``references[k]`` is layer k's raw output on the whole map (the monolithic reference).
    ``break_halo`` (tests): "edges" drops the pieces of the band halos that cross an edge,
    "overlap" makes every band lose the first row it shares with an earlier band.
    Raises TooFar when a halo reaches past the neighbours.
    """
    if overlap not in OVERLAPS:
        raise ValueError(f"overlap must be one of {OVERLAPS}, got {overlap!r}")
    runner = _Runner(infos, mesh, weights, image, references, precision, act_bits, routing)
    return runner.run(band_rows, overlap == "recompute", break_halo)


@dataclass
class _Chip:
    """One chip's memory and this band's counts."""

    #: own[m][row]: the chip's share of row ``row`` of map m (m >= 1), activated
    own: list[dict[int, np.ndarray]]
    #: halo[k][(row, dc)]: received piece of layer k's input window (column part dc)
    halo: list[dict[tuple[int, int], np.ndarray]]
    #: rows of layer k's input window received in earlier bands
    got: list[set[int]]
    #: rows of map m the chip has computed
    done: list[set[int]]
    image_values: int = 0
    image_rows: int = 0
    acc: dict = field(default_factory=dict)
    #: raw[row]: the chip's share of the stack's last map, before the activation
    raw: dict[int, np.ndarray] = field(default_factory=dict)


class _Runner:
    def __init__(self, infos, mesh, weights, image, references, precision, act_bits, routing):
        self.infos, self.mesh, self.weights, self.image = list(infos), mesh, weights, image
        self.refs, self.precision = references, precision
        self.act_bits, self.routing = act_bits, routing
        self.layers = [info.layer for info in self.infos]
        index = {INPUT: 0, **{layer.name: k + 1 for k, layer in enumerate(self.layers)}}
        self.sources = [tuple(index[name] for name in layer.inputs) for layer in self.layers]
        shapes = [self.infos[0].in_shapes[0], *(info.out_shape for info in self.infos)]
        self.heights = [s.height for s in shapes]
        self.widths = [s.width for s in shapes]
        self.channels = [s.channels for s in shapes]
        self.tilings = [Tiling.of(s, mesh) for s in shapes]
        self.shares = [
            [(int(t.row_bounds[r]), int(t.row_bounds[r + 1])) for r in range(mesh.rows)]
            for t in self.tilings
        ]
        #: cols[k][c]: layer k's column window on chip column c (None for an add)
        self.cols: list[list[Span] | None] = []
        for k, layer in enumerate(self.layers):
            if isinstance(layer, Add):
                self.cols.append(None)
                continue
            src = self.sources[k][0]
            out_t, in_t = self.tilings[k + 1], self.tilings[src]
            self.cols.append(
                axis_spans(layer, 1, out_t.col_bounds, in_t.col_bounds, self.widths[src])
            )

    def _own_cols(self, m: int, c: int) -> tuple[int, int]:
        bounds = self.tilings[m].col_bounds
        return int(bounds[c]), int(bounds[c + 1])

    def _row_part(self, row: int, m: int, r: int) -> int:
        lo, hi = self.shares[m][r]
        return -1 if row < lo else (1 if row >= hi else 0)

    def run(self, band_rows: int, recompute: bool, break_halo: str | None) -> BandedRun:
        mesh, n = self.mesh, len(self.layers)
        for k, spans in enumerate(self.cols):
            if spans is not None and self.sources[k][0] != 0 and any(s.too_far for s in spans):
                raise TooFar(
                    f"layer {self.layers[k].name!r}: a band's column halo reaches beyond the "
                    f"neighbouring chips of the {mesh} mesh"
                )
        self.rows = geo.stack_rows(
            self.layers, self.sources, self.heights, self.shares, band_rows, recompute
        )
        self.recompute, self.break_halo = recompute, break_halo
        self.stats = [_LayerStats() for _ in range(n)]
        chips = [
            _Chip([{} for _ in range(n + 1)], [{} for _ in range(n)], [set() for _ in range(n)],
                  [set() for _ in range(n + 1)])
            for _ in range(mesh.chips)
        ]  # fmt: skip
        for chip, state in enumerate(chips):  # the image tile with its halo, held whole
            r, c = divmod(chip, mesh.cols)
            reader = self.sources.index((0,))
            rows = geo.reads(self.layers[reader], self.shares[reader + 1][r], self.heights[0])
            span = self.cols[reader][c]
            state.image_rows = geo.size(rows)
            state.image_values = state.image_rows * (span.hi - span.lo) * self.channels[0]
        records = []
        for b in range(len(self.rows)):
            for state in chips:
                state.acc = _acc(n)
                if recompute:
                    state.halo = [{} for _ in range(n)]
                    state.got = [set() for _ in range(n)]
            for k in range(n):
                if self.cols[k] is not None:
                    self._exchange(b, k, chips)
                for chip in range(mesh.chips):
                    self._compute(b, k, chip, chips[chip])
                for state in chips:
                    self._measure(state)
            for chip, state in enumerate(chips):
                a = state.acc
                records.append(
                    ChipBand(
                        chip, b, tuple(a["computed"]), tuple(a["new"]), tuple(a["recomputed"]),
                        tuple(tuple(p) for p in a["halo_pixels"]), a["halo_bits"],
                        a["link_bits"], a["peak"], a["halo_held"], a["live"], a["missing"],
                        a["err"],
                    )
                )  # fmt: skip
                self._release(b, chip, state)
        results = tuple(
            LayerResult(
                layer.name,
                s.err,
                float(np.abs(self.refs[k].astype(np.float64)).max()) if self.refs[k].size else 0,
                s.halo_pixels,
                s.link_bits,
                s.missing,
                s.finite,
            )
            for k, (layer, s) in enumerate(zip(self.layers, self.stats, strict=True))
        )
        tiles, raw = self._output(chips)
        return BandedRun(
            tuple(layer.name for layer in self.layers),
            band_rows,
            "recompute" if recompute else "cache",
            len(self.rows),
            tuple(records),
            results,
            tuple(state.image_values * self.act_bits for state in chips),
            tiles,
            raw,
        )

    # -- one layer of one band -------------------------------------------------------------

    def _window_rows(self, b: int, k: int, r: int):
        return geo.reads(
            self.layers[k], self.rows[b][k][r].computed, self.heights[self.sources[k][0]]
        )

    def _exchange(self, b: int, k: int, chips: list[_Chip]) -> None:
        """The halo of layer k's band windows: pieces cut by their senders, carried over the
        links (for a layer reading the image, counted only: it comes from off-chip)."""
        mesh, src = self.mesh, self.sources[k][0]
        bits_per = self.channels[src] * self.act_bits
        pixels = np.zeros((mesh.chips, len(DIRECTIONS)), dtype=np.int64)
        fresh: dict[int, list[int]] = {}
        for chip, state in enumerate(chips):
            r, c = divmod(chip, mesh.cols)
            lo, hi = self._window_rows(b, k, r)
            rows = [row for row in range(lo, hi) if row not in state.got[k]]
            state.got[k].update(rows)
            fresh[chip] = rows
            span = self.cols[k][c]
            for d, (dr, dc) in enumerate(DIRECTIONS):
                part = sum(1 for row in rows if self._row_part(row, src, r) == dr)
                a, z = span.pieces[dc + 1]
                pixels[chip, d] = part * max(0, z - a)
            state.acc["halo_pixels"][k] = pixels[chip].tolist()
        if src == 0:
            return
        for chip in range(mesh.chips):
            r = chip // mesh.cols
            for d, (dr, _) in enumerate(DIRECTIONS):
                if not pixels[chip, d]:
                    continue
                rr = r + dr
                if not 0 <= rr < mesh.rows:
                    raise SimulationError(f"layer {self.layers[k].name!r}: halo off the mesh")
                share = self.shares[src][rr]
                if any(
                    self._row_part(row, src, r) == dr and not share[0] <= row < share[1]
                    for row in fresh[chip]
                ):
                    raise TooFar(
                        f"layer {self.layers[k].name!r}: a band's halo rows reach beyond the "
                        f"neighbouring chips of the {mesh} mesh"
                    )
        self.stats[k].halo_pixels += int(pixels.sum())
        transfers = halo_transfers(pixels * bits_per, mesh, self.routing)
        for t in transfers:
            (sr, sc), (r, c) = divmod(t.src, mesh.cols), divmod(t.dst, mesh.cols)
            dr, dc = sr - r, sc - c
            rows = [row for row in fresh[t.dst] if self._row_part(row, src, r) == dr]
            a, z = self.cols[k][c].pieces[dc + 1]
            own = self._own_cols(src, sc)
            sender = chips[t.src]
            piece = np.zeros((self.channels[src], len(rows), z - a), dtype=self.image.dtype)
            lost = np.zeros(len(rows), dtype=bool)
            for i, row in enumerate(rows):
                line = sender.own[src].get(row)
                if line is None:  # the sender does not hold the row now
                    lost[i] = True
                else:
                    piece[:, i] = line[:, a - own[0] : z - own[0]]
            if piece.size * self.act_bits != t.bits:
                raise SimulationError(f"layer {self.layers[k].name!r}: transfer {t} size")
            holder = t.src
            for a_, b_ in t.links:
                _check_link(a_, b_, holder, mesh.cols, self.routing)
                chips[t.dst].acc["link_bits"] += t.bits
                self.stats[k].link_bits += t.bits
                holder = b_  # a relay forwards what it received
            receiver = chips[t.dst]
            receiver.acc["halo_bits"] += t.bits
            if self.break_halo == "edges" and not (dr and dc):
                continue
            for i, row in enumerate(rows):
                if not lost[i]:
                    receiver.halo[k][(row, dc)] = piece[:, i]

    def _compute(self, b: int, k: int, chip: int, state: _Chip) -> None:
        mesh, layer = self.mesh, self.layers[k]
        r, c = divmod(chip, mesh.cols)
        lr = self.rows[b][k][r]
        lo, hi = lr.computed
        own = self._own_cols(k + 1, c)
        acc = state.acc
        if hi <= lo:
            return
        if isinstance(layer, Add):
            parts = [self._own_block(m, lo, hi, c, state, acc, k) for m in self.sources[k]]
            block = ref.add(parts)
        else:
            block = self._windowed(b, k, r, c, (lo, hi), state, acc)
        want = (self.channels[k + 1], hi - lo, own[1] - own[0])
        if block.shape != want:
            raise SimulationError(
                f"layer {layer.name!r}: chip ({r},{c}) computed a {block.shape} band block, "
                f"expected {want}"
            )
        expect = self.refs[k][:, lo:hi, own[0] : own[1]]
        err = abs_error(block, expect)
        e = float(err.max()) if err.size else 0.0
        acc["err"] = max(acc["err"], e)
        stats = self.stats[k]
        stats.err = max(stats.err, e)
        stats.finite = stats.finite and bool(np.isfinite(expect).all())
        act = activate(block, shift(self.infos[k]), self.precision)
        again = sum(1 for row in range(lo, hi) if row in state.done[k + 1])
        acc["computed"][k] += hi - lo
        acc["recomputed"][k] += again
        acc["new"][k] += hi - lo - again
        for i, row in enumerate(range(lo, hi)):
            state.own[k + 1][row] = act[:, i]
            state.done[k + 1].add(row)
            if k == len(self.layers) - 1:
                state.raw[row] = block[:, i]

    def _lost_row(self, b: int, m: int, r: int) -> int | None:
        """break_halo "overlap": the first row of map m this band shares with earlier ones."""
        if self.break_halo != "overlap" or m == 0:
            return None
        overlap = self.rows[b][m - 1][r].overlap
        return overlap[0] if geo.size(overlap) else None

    def _own_block(self, m, lo, hi, c, state: _Chip, acc, k) -> np.ndarray:
        """Rows [lo, hi) of the chip's share of map m (an add's input)."""
        width = self._own_cols(m, c)
        out = np.zeros((self.channels[m], hi - lo, width[1] - width[0]), dtype=self.image.dtype)
        for i, row in enumerate(range(lo, hi)):
            line = state.own[m].get(row)
            if line is None:
                acc["missing"] += 1
                self.stats[k].missing += 1
            else:
                out[:, i] = line
        return out

    def _windowed(self, b, k, r, c, rows, state: _Chip, acc) -> np.ndarray:
        """A conv or pool on the chip's window: own rows, received halo, padding at edges."""
        layer, src = self.layers[k], self.sources[k][0]
        win = geo.window(layer, rows, self.heights[src])
        span = self.cols[k][c]
        if span.out_hi == span.out_lo:  # a map narrower than the mesh: no columns here
            return np.zeros((self.channels[k + 1], rows[1] - rows[0], 0), self.image.dtype)
        x = np.zeros((self.channels[src], win.hi - win.lo, span.hi - span.lo), self.image.dtype)
        if src == 0:  # from the image tile the chip holds
            x[:] = self.image[:, win.lo : win.hi, span.lo : span.hi]
        else:
            lost = self._lost_row(b, src, r)
            own = self._own_cols(src, c)
            for i, row in enumerate(range(win.lo, win.hi)):
                inside = self._row_part(row, src, r) == 0
                for dc in (-1, 0, 1):
                    a, z = span.pieces[dc + 1]
                    if z <= a:
                        continue
                    if inside and dc == 0:
                        line = state.own[src].get(row)
                        got = None if line is None else line[:, a - own[0] : z - own[0]]
                    else:
                        got = state.halo[k].get((row, dc))
                    if got is None or row == lost:
                        acc["missing"] += 1
                        self.stats[k].missing += 1
                        continue
                    x[:, i, a - span.lo : z - span.lo] = got
        pads = (win.pad_lo, span.pad_lo, win.pad_hi, span.pad_hi)
        if isinstance(layer, Conv):
            return ref.conv2d(
                x, self.weights[layer.name], layer.stride, pads, layer.dilation, layer.groups
            )
        return ref.pool2d(x, layer.kernel, layer.stride, pads, layer.dilation, layer.mode)

    # -- memory ----------------------------------------------------------------------------

    def _measure(self, state: _Chip) -> None:
        own = sum(line.size for m in state.own for line in m.values())
        halo = sum(piece.size for h in state.halo for piece in h.values())
        fmm = (state.image_values + own) * self.act_bits
        if fmm > state.acc["peak"]:
            state.acc["peak"] = fmm
            state.acc["halo_held"] = halo * self.act_bits
            live = [state.image_rows] + [len(m) for m in state.own[1:]]
            state.acc["live"] = tuple(live)

    def _release(self, b: int, chip: int, state: _Chip) -> None:
        """After band b: keep what a later band reads (cache), or only the stack's output."""
        n, r = len(self.layers), chip // self.mesh.cols
        later = range(b + 1, len(self.rows))
        for m in range(1, n):
            if self.recompute:
                state.own[m] = {}
                continue
            needs = [self.rows[bb][m - 1][r].need for bb in later]
            state.own[m] = {
                row: line
                for row, line in state.own[m].items()
                if any(lo <= row < hi for lo, hi in needs)
            }
        if self.recompute:
            return
        for k in range(n):
            if self.cols[k] is None:
                continue
            windows = [self._window_rows(bb, k, r) for bb in later]
            state.halo[k] = {
                key: piece
                for key, piece in state.halo[k].items()
                if any(lo <= key[0] < hi for lo, hi in windows)
            }

    def _output(self, chips: list[_Chip]) -> tuple[Stored, np.ndarray]:
        """The stack's output share of every chip (activated) and its raw values."""
        n, mesh = len(self.layers), self.mesh
        tiles, raws = [], []
        for chip, state in enumerate(chips):
            r, c = divmod(chip, mesh.cols)
            lo, hi = self.shares[n][r]
            width = self._own_cols(n, c)
            shape = (self.channels[n], hi - lo, width[1] - width[0])
            tile, raw = np.zeros(shape, self.image.dtype), np.zeros(shape, self.image.dtype)
            for row in range(lo, hi):
                if row not in state.own[n]:
                    raise SimulationError(
                        f"layer {self.layers[-1].name!r}: chip ({r},{c}) never computed row {row}"
                    )
                tile[:, row - lo], raw[:, row - lo] = state.own[n][row], state.raw[row]
            tiles.append(tile)
            raws.append(raw)
        raw_whole = Stored("tiled", raws, self.tilings[n]).assemble()
        return Stored("tiled", tiles, self.tilings[n]), raw_whole


def _acc(layers: int) -> dict:
    return {
        "computed": [0] * layers,
        "new": [0] * layers,
        "recomputed": [0] * layers,
        "halo_pixels": [[0] * len(DIRECTIONS) for _ in range(layers)],
        "halo_bits": 0,
        "link_bits": 0,
        "peak": 0,
        "halo_held": 0,
        "live": (),
        "missing": 0,
        "err": 0.0,
    }


@dataclass
class _LayerStats:
    err: float = 0.0
    halo_pixels: int = 0
    link_bits: int = 0
    missing: int = 0
    finite: bool = True
