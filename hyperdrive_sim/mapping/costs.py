"""What each layer costs on each chip: cycles and action counts, never joules.

The Hyperdrive datapath: every cycle each of the M x N Tile-PUs reads
one activation word from the FMM and broadcasts it to its C FMPUs, which add or subtract it
according to one weight bit each. So only output channels that read the *same* input word
work in parallel. The rules below follow from that; each says what it assumes.

- conv: output channels of one group share inputs, so a block is up to C channels of one
  group. cycles = groups * ceil(C_out/groups / C) * ceil(h/M) * ceil(w/N) * C_in/groups * kh*kw.
  With groups = 1 this is the ideal-cycles formula of docs/model.md; a depthwise conv uses
  1 of C FMPUs.
  One weight word of the block is read from the weight buffer every cycle.
- pool: like a depthwise conv without weights (one channel per input word); each window
  element costs one FP16 compare or add. adaptive_pool: the same with its largest window
  at this input size (its windows differ by at most one row or column; assumption: every
  window is charged as the largest, exact when the output size divides the input size).
- fused pooling (``chip.fuse_pooling``): a conv stores only the outputs the plan keeps
  (``stored_pixels``) and its pool reads only the windows of its border outputs from the FMM
  (``read_pixels``); cycles and compare/adds are those of the unfused pair (docs/model.md).
- add: every operand word is read once (one word per Tile-PU per cycle); n-1 adds per output.
- scale (a squeeze-and-excitation gate on a map): every map word is read, multiplied by its
  channel's gate value and written once (one FP16 multiply per word; assumption: the gate
  is applied in a pass of its own, not fused into the next layer's reads); the C gate
  values come from the root chip (mapping/plan.py, ``broadcasts``).
- concat, channel_slice, channel_shuffle: FMM addressing only, no cycles (assumption: the
  FMM layout lets the next layer read the operands in place).
- upsample (nearest): each output word is read from the input and written once.
- global_pool on a tiled map: every Tile-PU sums its own pixels channel by channel; the
  combining of the M*N Tile-PU partials inside a chip is neglected (at most M*N*C adds per
  layer, assumption). dense on a tiled map: every input word needs its own weights, so one
  Tile-PU is active. Both then sum the chips' partial vectors hop by hop towards chip
  (0, 0) (rows first, then column 0), one vector per link; later layers run on (0, 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from hyperdrive_sim.spec.models import ChipSpec
from hyperdrive_sim.workload.network import LayerInfo

#: layers that only re-address the FMM: no cycles, no storage of their own
LAYOUT_KINDS = frozenset({"concat", "channel_slice", "channel_shuffle"})

COUNT_FIELDS = (
    "macs",
    "xnor_macs",
    "skipped_macs",
    "fp16_adds",
    "fp16_muls",
    "fmm_read_bits",
    "fmm_write_bits",
    "wbuf_read_bits",
    "wbuf_write_bits",
)


@dataclass(frozen=True, eq=False)
class ChipWork:
    """Per-chip work of one layer (arrays indexed by chip) plus its weight blocks."""

    cycles: np.ndarray
    #: every MAC of the layer (the network's work: ops = 2 * macs)
    macs: np.ndarray
    #: MACs executed as XNOR-popcount (binary activations)
    xnor_macs: np.ndarray
    #: MACs not executed thanks to kernel reuse
    skipped_macs: np.ndarray
    fp16_adds: np.ndarray
    fp16_muls: np.ndarray
    fmm_read_bits: np.ndarray
    fmm_write_bits: np.ndarray
    wbuf_read_bits: np.ndarray
    wbuf_write_bits: np.ndarray
    #: weight bits of each block, in streaming order (empty for weightless layers)
    blocks: np.ndarray
    #: length of the partial vector each chip sends for a cross-chip reduction (0 if none)
    reduce_len: int = 0


def _ceil(a, b):
    return -(-a // b)


def _zeros(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.int64)


def conv_blocks(out_channels: int, groups: int, fmpus: int) -> np.ndarray:
    """Output channels in each weight block: up to C channels of one group per block."""
    per_group = out_channels // groups
    full, rest = divmod(per_group, fmpus)
    one_group = [fmpus] * full + ([rest] if rest else [])
    return np.tile(np.array(one_group, dtype=np.int64), groups)


def largest_block_bits(infos, chip) -> int:
    """Bits of the largest weight block a network streams (what the weight buffer must hold
    per block): per conv, up to C output channels x C_in/groups x k_h x k_w weights; per
    dense layer, up to C outputs x its input features."""
    largest = 0
    for info in infos:
        layer = info.layer
        if layer.kind == "conv":
            kh, kw = layer.kernel
            taps = info.in_shapes[0].channels // layer.groups * kh * kw
            per_block = int(
                conv_blocks(info.out_shape.channels, layer.groups, chip.fmpus_per_tile).max()
            )
        elif layer.kind == "dense":
            taps = info.in_shapes[0].elements
            per_block = min(info.out_shape.channels, chip.fmpus_per_tile)
        else:
            continue
        largest = max(largest, per_block * taps * chip.weight_bits)
    return largest


@dataclass(frozen=True)
class Precision:
    """Bits per value of a layer's input and output maps (FP16, or 1 in binary mode)."""

    in_bits: int
    out_bits: int

    @property
    def xnor(self) -> bool:
        """MACs on 1-bit inputs are XNOR-popcount operations."""
        return self.in_bits == 1


@dataclass(frozen=True)
class Pruning:
    """Effect of the weight techniques on one conv/dense layer (all zero: none).

    Kernel reuse: fraction of MACs saved (energy), fraction of (input, tap) positions the
    lock-step FMPUs can skip (cycles), and its costs: ``reusing`` kernels each read their
    parent's output (one FP16 word per output pixel, one cycle per pixel step) and read a
    difference-mask bit next to every weight bit; in binary mode the ``parents`` also write
    their FP16 sums. Kernel dictionary: ``index_bits`` per kernel window read from the weight
    buffer per pixel step (the window's bits then come from the dictionary, read like the
    weight buffer). ``block_bits``: the streamed bits of each weight block when a technique
    recodes the weights (empty: plain ``C x taps x weight_bits``).
    """

    saved: float = 0.0
    skippable: float = 0.0
    reusing: int = 0
    parents: int = 0
    index_bits: int = 0
    block_bits: tuple[int, ...] = ()


NO_PRUNING = Pruning()

#: a weight cache's rule: which of the frame's blocks ``(layer, index, bits)`` it serves
CacheRule = Callable[[Sequence[tuple[str, int, int]]], np.ndarray]


@dataclass(frozen=True)
class WeightTechniques:
    """What the chip's optional weight techniques do, handed to the planner from outside
    mapping/: per-layer ``pruning`` effects (kernel reuse, kernel dictionary) and the weight
    cache's ``cache_rule`` (None: no cache). Empty: plain binary weights streamed as they are."""

    pruning: Mapping[str, Pruning] = field(default_factory=dict)
    cache_rule: CacheRule | None = None


NO_TECHNIQUES = WeightTechniques()


def _coded(plain: np.ndarray, pruning: Pruning) -> np.ndarray:
    """Streamed bits per weight block: the technique's coding if it has one, else ``plain``."""
    if not pruning.block_bits:
        return plain
    coded = np.asarray(pruning.block_bits, dtype=np.int64)
    if coded.shape != plain.shape:
        raise ValueError(f"{len(coded)} coded weight blocks for {len(plain)} blocks")
    return coded


def _parent_sums(pruning: Pruning, pix, chip: ChipSpec, out_bits: int):
    """FMM bits written to keep reused parents' FP16 sums when outputs are stored narrower."""
    return pruning.parents * pix * max(chip.activation_bits - out_bits, 0)


def layer_work(
    info: LayerInfo,
    chip: ChipSpec,
    out_h: np.ndarray,
    out_w: np.ndarray,
    in_elements: np.ndarray,
    reduce: bool,
    precision: Precision | None = None,
    pruning: Pruning = NO_PRUNING,
    *,
    stored_pixels: np.ndarray | None = None,
    read_pixels: np.ndarray | None = None,
    owned: np.ndarray | None = None,
    block_owner: np.ndarray | None = None,
) -> ChipWork:
    """Cost of ``info`` on every chip, given each chip's output share ``out_h`` x ``out_w``.

    ``in_elements`` is the number of input values each chip holds (for dense and global
    pooling); ``reduce`` says whether partial results must be summed across chips.
    Scaling factors (``chip.scaling_factors``) add one FP16 multiply per output value of
    conv and dense layers, done by the FMPUs: one cycle per pixel step and block.
    ``precision`` defaults to ``chip.activation_bits`` in and out.
    Fused pooling: ``stored_pixels`` are the output pixels a conv writes to the FMM, and
    ``read_pixels`` the output pixels whose windows a pool reads from it (default: all).
    Channel partitioning: chip c computes ``owned[c]`` output channels of the whole map,
    and a conv only the weight blocks ``block_owner`` gives it.
    """
    if precision is None:
        precision = Precision(chip.activation_bits, chip.activation_bits)
    layer, kind = info.layer, info.layer.kind
    rd, wr, wbits = precision.in_bits, precision.out_bits, chip.weight_bits
    m, n, c = chip.tile_rows, chip.tile_cols, chip.fmpus_per_tile
    chips = len(out_h)
    pix = out_h * out_w
    pix_iter = _ceil(out_h, m) * _ceil(out_w, n)
    out_ch = info.out_shape.channels
    och = out_ch if owned is None else owned  # output channels each chip computes
    z = _zeros(chips)
    blocks = np.zeros(0, dtype=np.int64)
    reduce_len = 0
    muls = z

    if kind == "conv":
        kh, kw = layer.kernel
        cin_g = info.in_shapes[0].channels // layer.groups
        taps = cin_g * kh * kw
        steps = taps - round(taps * pruning.skippable)
        block_ch = conv_blocks(out_ch, layer.groups, c)
        blocks = _coded(block_ch * taps * wbits, pruning)
        nblk = len(block_ch)  # blocks each chip computes
        wbuf_write = np.where(pix > 0, int(blocks.sum()), 0)
        if block_owner is not None:
            nblk = np.bincount(block_owner, minlength=chips)
            wbuf_write = np.bincount(block_owner, weights=blocks, minlength=chips)
        cycles = nblk * pix_iter * steps + pruning.reusing * pix_iter
        macs = pix * och * taps
        reads = nblk * pix * steps * rd + pruning.reusing * pix * chip.activation_bits
        stored = pix if stored_pixels is None else stored_pixels
        writes = stored * och * wr + _parent_sums(pruning, pix, chip, wr)
        wbuf_read = pix_iter * (
            steps * (och * wbits + pruning.reusing) + och * cin_g * pruning.index_bits
        )
        adds = z
        if chip.scaling_factors:
            muls = pix * och
            cycles = cycles + nblk * pix_iter
    elif kind in ("pool", "adaptive_pool"):
        kh, kw = layer.kernel if kind == "pool" else layer.window(info.in_shapes[0])
        cycles = och * pix_iter * kh * kw
        adds = pix * och * kh * kw
        windows = pix if read_pixels is None else read_pixels
        reads, writes = windows * och * kh * kw * rd, pix * och * wr
        macs = wbuf_read = wbuf_write = z
    elif kind == "add":
        k = len(layer.inputs)
        cycles = k * och * pix_iter
        adds = (k - 1) * pix * och
        reads, writes = k * pix * och * rd, pix * och * wr
        macs = wbuf_read = wbuf_write = z
    elif kind == "scale":
        cycles = och * pix_iter
        muls = pix * och
        reads, writes = pix * och * rd, pix * och * wr
        macs = adds = wbuf_read = wbuf_write = z
    elif kind == "upsample":
        cycles = och * pix_iter
        reads, writes = pix * och * rd, pix * och * wr
        macs = adds = wbuf_read = wbuf_write = z
    elif kind == "global_pool":
        per_channel = info.in_shapes[0].height * info.in_shapes[0].width
        tile_iter = _ceil(in_elements // out_ch, chip.tiles)
        if owned is not None:  # each chip sums its own channels over the whole map
            tile_iter = _ceil(per_channel, chip.tiles)
        cycles = och * tile_iter
        adds = in_elements
        reads, writes = in_elements * rd, np.where(in_elements > 0, och * wr, 0)
        macs = wbuf_read = wbuf_write = z
        reduce_len = out_ch if reduce else 0
    elif kind == "dense":
        block_ch = conv_blocks(out_ch, 1, c)
        in_features = info.in_shapes[0].elements
        blocks = _coded(block_ch * in_features * wbits, pruning)
        steps = in_elements - np.round(in_elements * pruning.skippable).astype(np.int64)
        holds = in_elements > 0
        cycles = len(block_ch) * steps + np.where(holds, pruning.reusing, 0)
        macs = in_elements * out_ch
        reads = len(block_ch) * steps * rd + np.where(holds, pruning.reusing, 0) * (
            chip.activation_bits
        )
        writes = np.where(holds, out_ch * wr, 0) + _parent_sums(pruning, holds, chip, wr)
        wbuf_read = steps * (out_ch * wbits + pruning.reusing)
        # each chip receives its inputs' share of the kernels and reuse masks, and every
        # kernel's parent field (what the coded blocks hold beyond kernels and masks)
        fields = int(blocks.sum()) - (out_ch * wbits + pruning.reusing) * in_features
        wbuf_write = in_elements * (out_ch * wbits + pruning.reusing) + np.where(holds, fields, 0)
        adds = z
        reduce_len = out_ch if reduce else 0
        if chip.scaling_factors:  # after the reduction, on the chip holding the result
            final = np.zeros(chips, dtype=bool)
            final[0 if reduce else np.flatnonzero(in_elements > 0)[:1]] = True
            muls = np.where(final, out_ch, 0)
            cycles = cycles + np.where(final, len(block_ch), 0)
    else:  # concat, channel_slice, channel_shuffle: layout only
        cycles = macs = adds = reads = writes = wbuf_read = wbuf_write = z

    macs = np.asarray(macs, dtype=np.int64)
    skipped = np.round(macs * pruning.saved).astype(np.int64)
    executed = macs - skipped

    def arr(v) -> np.ndarray:
        return np.broadcast_to(np.asarray(v, dtype=np.int64), (chips,)).copy()

    return ChipWork(
        cycles=arr(cycles),
        macs=arr(macs),
        xnor_macs=arr(executed if precision.xnor else z),
        skipped_macs=arr(skipped),
        fp16_adds=arr(adds),
        fp16_muls=arr(muls),
        fmm_read_bits=arr(reads),
        fmm_write_bits=arr(writes),
        wbuf_read_bits=arr(wbuf_read),
        wbuf_write_bits=arr(wbuf_write),
        blocks=blocks,
        reduce_len=reduce_len,
    )
