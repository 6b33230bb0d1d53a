"""The per-layer effect of the chip's weight techniques, as the plan applies it.

Kernel reuse (``chip.pruning``) and the kernel dictionary (``chip.kernel_dictionary_bits``)
compose: a layer streams its kernels plainly or as dictionary indices, and kernel reuse adds
its difference masks and parent fields to every block on top.
"""

from __future__ import annotations

import numpy as np

from hyperdrive_sim.mapping.costs import Pruning, conv_blocks
from hyperdrive_sim.spec.models import ChipSpec
from hyperdrive_sim.techniques.kernel_dictionary import dictionary_codes
from hyperdrive_sim.techniques.kernel_reuse import kernel_reuse_savings
from hyperdrive_sim.workload.network import ShapedNetwork


def _plain_blocks(net: ShapedNetwork, chip: ChipSpec) -> dict[str, np.ndarray]:
    """Plain streamed bits per weight block of every conv/dense layer (as costs.py has them)."""
    out = {}
    for info in net.infos:
        layer = info.layer
        if layer.kind == "conv":
            kh, kw = layer.kernel
            n = info.in_shapes[0].channels // layer.groups * kh * kw
            groups = layer.groups
        elif layer.kind == "dense":
            n, groups = info.in_shapes[0].elements, 1
        else:
            continue
        channels = conv_blocks(info.out_shape.channels, groups, chip.fmpus_per_tile)
        out[layer.name] = channels * n * chip.weight_bits
    return out


def weight_technique_effects(net: ShapedNetwork, chip: ChipSpec) -> dict[str, Pruning]:
    """Pruning per conv/dense layer for the chip's options; empty when all are off."""
    reuse = chip.pruning == "kernel_reuse"
    dictionary = chip.kernel_dictionary_bits > 0 and chip.weight_bits == 1
    if not (reuse or dictionary):
        return {}
    fmpus = chip.fmpus_per_tile
    weights, seed = chip.pruning_weights, chip.pruning_seed
    effects = dict(kernel_reuse_savings(net, weights, seed, fmpus)) if reuse else {}
    codes = (
        {name: (bits, blocks) for name, bits, blocks in
         dictionary_codes(net, weights, seed, fmpus, chip.kernel_dictionary_bits)}
        if dictionary else {}
    )  # fmt: skip
    out: dict[str, Pruning] = {}
    for name, plain in _plain_blocks(net, chip).items():
        if name not in effects and name not in codes:
            continue
        effect = effects.get(name, Pruning())
        index, blocks = codes.get(name, (0, tuple(int(b) for b in plain)))
        extra = np.asarray(effect.block_bits or np.zeros(len(blocks)), dtype=np.int64)
        out[name] = Pruning(
            saved=effect.saved,
            skippable=effect.skippable,
            reusing=effect.reusing,
            parents=effect.parents,
            index_bits=index,
            block_bits=tuple(int(b) for b in np.asarray(blocks, dtype=np.int64) + extra),
        )
    return out
