"""On-chip weight cache kept across frames (after Vieira et al.'s kernel storage near compute).

Hyperdrive streams every weight block from off-chip once per frame. When a stream of frames
runs the same network, an on-chip cache of ``capacity_bits`` can keep blocks resident, so a
frame re-reads from off-chip only what the cache did not hold. Blocks follow the mapping
(:func:`hyperdrive_sim.mapping.costs.conv_blocks`): up to C output channels of one group per
block, every layer's blocks in streaming order, the same sequence every frame.

Two policies:

- ``"most_used"``: static pinning, chosen once and never evicted. Blocks are ranked by use
  count (reads per frame from the weight buffer, e.g. pixel steps; all 1 by default), then
  by smaller size, and pinned first-fit until the cache is full. With equal use counts this
  pins the longest prefix of blocks sorted by size, so the pinned bits (and the off-chip
  savings) never decrease with capacity. A greedy fill, not an exact knapsack.
- ``"lru"``: least-recently-used replacement over blocks with their bits as sizes; a block
  larger than the whole cache bypasses it.

A frame's stream is cyclic, so once it is larger than the cache LRU evicts every block
before its next use and misses everything after the cold frame, while pinning keeps hitting
on the pinned part: the classic case where LRU is the worst policy.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from hyperdrive_sim.mapping.costs import conv_blocks
from hyperdrive_sim.workload.network import ShapedNetwork

Policy = Literal["most_used", "lru"]

#: (layer name, block index within the layer, bits)
Block = tuple[str, int, int]


def block_sizes(net: ShapedNetwork, fmpus: int, weight_bits: int = 1) -> list[Block]:
    """Weight blocks of ``net`` as (layer, block index, bits), in streaming order.

    conv: ``conv_blocks(out_channels, groups, fmpus)`` channels per block, each channel
    C_in/groups * kh * kw weights; dense: up to ``fmpus`` outputs * in_features. The bits
    sum to ``net.weights * weight_bits``.
    """
    out: list[Block] = []
    for info in net.infos:
        layer = info.layer
        if layer.kind == "conv":
            kh, kw = layer.kernel
            per_channel = info.in_shapes[0].channels // layer.groups * kh * kw
            channels = conv_blocks(info.out_shape.channels, layer.groups, fmpus)
        elif layer.kind == "dense":
            per_channel = info.in_shapes[0].elements
            channels = conv_blocks(info.out_shape.channels, 1, fmpus)
        else:
            continue
        bits = channels * per_channel * weight_bits
        out.extend((layer.name, i, int(b)) for i, b in enumerate(bits))
    return out


def block_uses(net: ShapedNetwork, fmpus: int, tile_rows: int, tile_cols: int) -> list[int]:
    """Reads per frame of each block from the weight buffer on one chip (its pixel steps).

    One entry per :func:`block_sizes` block: ceil(h / tile_rows) * ceil(w / tile_cols) for a
    conv over an h x w output map, 1 for dense. A weighting for ``"most_used"``; multi-chip
    mappings should pass their own per-chip pixel steps instead.
    """
    out: list[int] = []
    for info in net.infos:
        layer = info.layer
        if layer.kind == "conv":
            h, w = info.out_shape.height, info.out_shape.width
            steps = -(-h // tile_rows) * -(-w // tile_cols)
            count = len(conv_blocks(info.out_shape.channels, layer.groups, fmpus))
        elif layer.kind == "dense":
            steps, count = 1, len(conv_blocks(info.out_shape.channels, 1, fmpus))
        else:
            continue
        out.extend([steps] * count)
    return out


def pinned_blocks(
    blocks: Sequence[Block], capacity_bits: int, uses: Sequence[int] | None = None
) -> np.ndarray:
    """Boolean mask of the blocks ``"most_used"`` pins: by use count, then smaller first."""
    bits = np.array([b[2] for b in blocks], dtype=np.int64)
    use = np.ones(len(bits), dtype=np.int64) if uses is None else np.asarray(uses, np.int64)
    if len(use) != len(bits):
        raise ValueError(f"{len(use)} use counts for {len(bits)} blocks")
    pinned = np.zeros(len(bits), dtype=bool)
    free = int(capacity_bits)
    for i in np.lexsort((bits, -use)):  # last key sorts first: uses desc, then bits asc
        if bits[i] <= free:
            pinned[i] = True
            free -= int(bits[i])
    return pinned


def _lru_frames(bits: list[int], capacity: int, frames: int) -> list[int]:
    return [int(np.dot(bits, ~hit)) for hit in _lru_hits(bits, capacity, frames)]


def _lru_hits(bits: list[int], capacity: int, frames: int) -> list[np.ndarray]:
    """Per frame, which blocks the LRU cache served."""
    cache: OrderedDict[int, int] = OrderedDict()
    used = 0
    out = []
    for _ in range(frames):
        hits = np.zeros(len(bits), dtype=bool)
        for key, size in enumerate(bits):
            if key in cache:
                cache.move_to_end(key)
                hits[key] = True
                continue
            if size > capacity:
                continue  # bypasses the cache
            while used + size > capacity:
                _, evicted = cache.popitem(last=False)
                used -= evicted
            cache[key] = size
            used += size
        out.append(hits)
    return out


def steady_state_hits(
    blocks: Sequence[Block], capacity_bits: int, policy: Policy, uses: Sequence[int] | None = None
) -> np.ndarray:
    """Which blocks the cache serves in a steady-state frame (the second one, after a cold
    first frame: pinning is static, and LRU over a repeated stream settles after one pass)."""
    if policy == "most_used":
        return pinned_blocks(blocks, capacity_bits, uses)
    if policy == "lru":
        return _lru_hits([int(b[2]) for b in blocks], int(capacity_bits), 2)[1]
    raise ValueError(f"policy must be 'most_used' or 'lru', got {policy!r}")


def offchip_weight_bits_per_frame(
    blocks: Sequence[Block],
    capacity_bits: int,
    policy: Policy,
    frames: int,
    uses: Sequence[int] | None = None,
) -> list[int]:
    """Off-chip weight bits read in each of ``frames`` frames; the first frame starts cold.

    ``blocks`` as from :func:`block_sizes`, read in that order every frame. ``uses``
    (per block, default 1) ranks blocks for ``"most_used"``; LRU ignores it.
    """
    if capacity_bits < 0 or frames < 1:
        raise ValueError("capacity_bits must be >= 0 and frames >= 1")
    bits = [int(b[2]) for b in blocks]
    total = sum(bits)
    if policy == "lru":
        return _lru_frames(bits, int(capacity_bits), frames)
    if policy == "most_used":
        kept = int(np.array(bits, dtype=np.int64)[pinned_blocks(blocks, capacity_bits, uses)].sum())
        return [total] + [total - kept] * (frames - 1)
    raise ValueError(f"policy must be 'most_used' or 'lru', got {policy!r}")


@dataclass(frozen=True)
class CachePoint:
    """Steady-state off-chip weight traffic for one cache capacity and policy."""

    capacity_bits: int
    policy: str
    #: off-chip weight bits in the last simulated frame
    offchip_bits_per_frame: int
    #: fraction of a frame's weight bits served by the cache in that frame
    hit_fraction: float


def cache_curve(
    net: ShapedNetwork,
    fmpus: int,
    capacities: Sequence[int],
    policy: Policy,
    frames: int = 3,
    weight_bits: int = 1,
    uses: Sequence[int] | None = None,
) -> list[CachePoint]:
    """Steady-state off-chip weight bits per frame of ``net`` for each cache capacity.

    Simulates ``frames`` frames (>= 2 to get past the cold frame) and reports the last.
    Pinning is steady from frame 2; LRU was too in every stream tried (thousands of random
    ones), the default of 3 frames leaves a margin.
    """
    blocks = block_sizes(net, fmpus, weight_bits)
    total = sum(b[2] for b in blocks)
    points = []
    for cap in capacities:
        last = offchip_weight_bits_per_frame(blocks, cap, policy, frames, uses)[-1]
        hit = 1.0 - last / total if total else 0.0
        points.append(CachePoint(int(cap), policy, last, hit))
    return points
