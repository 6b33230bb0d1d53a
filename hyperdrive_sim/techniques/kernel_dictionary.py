"""Kernel storage near compute (after Vieira et al., VLSI-SoC 2019): a dictionary of the
binary kernel patterns a layer repeats, kept next to the FMPUs.

A conv layer of C_out x C_in/groups kernel windows of kh x kw ±1 weights uses at most
2^(kh*kw) distinct window patterns (512 for 3x3), and trained binary networks repeat a few
of them often. The chip keeps the layer's U unique patterns in an on-chip dictionary of
``U * kh * kw`` bits and streams, for every window, an index of ceil(log2 U) bits instead of
its kh * kw bits: the weight stream (off-chip and between chips) and the weight-buffer
writes shrink to ``U * kh * kw + windows * ceil(log2 U)`` bits.

A layer uses its dictionary only when that is fewer bits than its plain kernels and the
dictionary fits the chip's store (``kernel_dictionary_bits``); otherwise it streams as
before. Dense and 1x1 layers never do (a 1-bit window cannot be indexed in fewer bits).
When every window is unique, U = windows and the dictionary alone is as large as the plain
kernels, so nothing is saved; with random ±1 weights a large 3x3 layer holds all 512
patterns and the index is 9 bits, again no saving. The effect needs trained weights.

The FMPUs still read one weight bit per cycle, now from the dictionary (priced like the
weight buffer, both small latch arrays next to the FMPUs), and the weight buffer is read
once per window and pixel step for the index: the technique saves stream and buffer
writes, not reads. Counts only; the simulator prices them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hyperdrive_sim.errors import InputError
from hyperdrive_sim.mapping.costs import conv_blocks
from hyperdrive_sim.techniques.kernel_reuse import layer_kernels, load_weights
from hyperdrive_sim.workload.network import LayerInfo, ShapedNetwork


def index_bits(unique: int) -> int:
    """Bits of an index into ``unique`` patterns: ceil(log2 unique); 0 for a single one."""
    return int(unique - 1).bit_length() if unique > 1 else 0


def unique_windows(windows: np.ndarray) -> int:
    """Distinct rows of a ±1 (or sign) matrix ``windows`` of shape (count, taps)."""
    w = np.asarray(windows)
    if w.ndim != 2:
        raise ValueError(f"windows must have shape (count, taps), got {w.shape}")
    if len(w) == 0:
        return 0
    bits = (w > 0).astype(np.int64)
    if bits.shape[1] <= 62:  # pack each pattern into one integer
        codes = bits @ (1 << np.arange(bits.shape[1], dtype=np.int64))
        return len(np.unique(codes))
    return len(np.unique(bits, axis=0))


@dataclass(frozen=True)
class LayerDictionary:
    """The kernel dictionary of one conv layer and what streaming indices would cost."""

    name: str
    #: kernel windows of the layer: C_out * C_in/groups
    windows: int
    #: weights per window: kh * kw
    taps: int
    #: distinct window patterns U
    unique: int
    #: dictionary store capacity of the chip, bits
    capacity_bits: int

    @property
    def dictionary_bits(self) -> int:
        """Bits of the dictionary: U * kh * kw."""
        return self.unique * self.taps

    @property
    def index_bits(self) -> int:
        return index_bits(self.unique)

    @property
    def plain_bits(self) -> int:
        """The layer's kernels streamed as they are: windows * kh * kw."""
        return self.windows * self.taps

    @property
    def coded_bits(self) -> int:
        """Dictionary plus one index per window."""
        return self.dictionary_bits + self.windows * self.index_bits

    @property
    def used(self) -> bool:
        """Streaming indices is smaller and the dictionary fits the store."""
        return (
            self.taps > 1
            and self.coded_bits < self.plain_bits
            and self.dictionary_bits <= self.capacity_bits
        )

    @property
    def streamed_bits(self) -> int:
        return self.coded_bits if self.used else self.plain_bits

    @property
    def saved_bits(self) -> int:
        """Weight-stream bits saved per frame: 0 when the dictionary is not used."""
        return self.plain_bits - self.streamed_bits


def layer_dictionary(
    info: LayerInfo, kernels: np.ndarray, capacity_bits: int
) -> LayerDictionary | None:
    """Dictionary of a conv layer from its ±1 kernels (groups, kernels per group, n);
    None for other layers."""
    layer = info.layer
    if layer.kind != "conv":
        return None
    kh, kw = layer.kernel
    windows = np.asarray(kernels).reshape(-1, kh * kw)
    return LayerDictionary(layer.name, len(windows), kh * kw, unique_windows(windows),
                           int(capacity_bits))  # fmt: skip


def network_dictionaries(
    net: ShapedNetwork,
    weights: dict[str, np.ndarray] | None,
    seed: int,
    capacity_bits: int,
) -> list[LayerDictionary]:
    """Dictionary of every conv layer of ``net``, in layer order (kernels as
    :func:`~hyperdrive_sim.techniques.kernel_reuse.layer_kernels` gives them)."""
    out = []
    for info in net.infos:
        if info.layer.kind == "conv":
            d = layer_dictionary(info, layer_kernels(info, weights, seed), capacity_bits)
            if d is not None:
                out.append(d)
    return out


def coded_block_bits(info: LayerInfo, d: LayerDictionary, fmpus: int) -> np.ndarray:
    """Streamed bits of each weight block of a layer that uses its dictionary.

    A block of b kernels carries b * C_in/groups indices; the first block of the layer
    also carries the dictionary, which the chip loads before the layer's first phase.
    """
    layer = info.layer
    cin_g = info.in_shapes[0].channels // layer.groups
    channels = conv_blocks(info.out_shape.channels, layer.groups, fmpus)
    bits = channels * cin_g * d.index_bits
    bits[0] += d.dictionary_bits
    return bits.astype(np.int64)


@lru_cache(maxsize=32)
def dictionary_codes(
    net: ShapedNetwork, weights_path: str | None, seed: int, fmpus: int, capacity_bits: int
) -> tuple[tuple[str, int, tuple[int, ...]], ...]:
    """Per conv layer that uses its dictionary: (name, index bits, streamed bits per block).

    Cached per process like the kernel-reuse plans.
    """
    weights = load_weights(weights_path) if weights_path else None
    try:
        dicts = network_dictionaries(net, weights, seed, capacity_bits)
    except ValueError as exc:  # weights that do not match the network's layers
        if weights_path is None:
            raise
        raise InputError(str(exc), file=weights_path, key="pruning_weights") from None
    infos = {i.layer.name: i for i in net.infos}
    return tuple(
        (d.name, d.index_bits, tuple(int(b) for b in coded_block_bits(infos[d.name], d, fmpus)))
        for d in dicts
        if d.used
    )
