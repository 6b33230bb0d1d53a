"""Weight cache across frames: hand-derived streams, limits, monotonicity and ResNet-34 sizes."""

from __future__ import annotations

import numpy as np
import pytest

from hyperdrive_sim.techniques.weight_cache import (
    block_sizes,
    block_uses,
    cache_curve,
    offchip_weight_bits_per_frame,
    pinned_blocks,
)
from hyperdrive_sim.workload.zoo import get_network

# Blocks A, B of 4 bits and C of 8 bits, read A, B, C every frame.
ABC = [("a", 0, 4), ("b", 0, 4), ("c", 0, 8)]


def test_lru_thrashes_where_pinning_keeps_hitting() -> None:
    # Capacity 8, LRU. Frame 1: A miss -> {A}; B miss -> {A, B} (full); C miss evicts A and
    # B -> {C}. Frame 2: A misses and evicts C -> {A}; B miss -> {A, B}; C misses again and
    # evicts both. Every frame misses all 16 bits: the cyclic stream (16) exceeds the cache.
    assert offchip_weight_bits_per_frame(ABC, 8, "lru", 4) == [16, 16, 16, 16]
    # Pinning: by size (use counts equal) A then B fill the 8 bits; C (8) no longer fits.
    # Cold frame 16, then only C: 8 bits per frame.
    assert list(pinned_blocks(ABC, 8)) == [True, True, False]
    assert offchip_weight_bits_per_frame(ABC, 8, "most_used", 4) == [16, 8, 8, 8]


def test_use_counts_rank_pinning() -> None:
    # C is read 5 times per frame, A and B once: C is pinned first and fills the cache.
    assert list(pinned_blocks(ABC, 8, uses=[1, 1, 5])) == [False, False, True]
    assert offchip_weight_bits_per_frame(ABC, 8, "most_used", 2, uses=[1, 1, 5]) == [16, 8]
    # Capacity 12: C (8) first, then A (4) fits, B no longer.
    assert list(pinned_blocks(ABC, 12, uses=[1, 1, 5])) == [True, False, True]


def test_lru_block_larger_than_cache_bypasses() -> None:
    # Blocks 2, 10, 2 with capacity 5. Frame 1: A miss -> {A}; B (10 > 5) bypasses; C miss
    # -> {A, C}. Frame 2 on: A and C hit, only B is read: 10 bits.
    blocks = [("a", 0, 2), ("b", 0, 10), ("c", 0, 2)]
    assert offchip_weight_bits_per_frame(blocks, 5, "lru", 3) == [14, 10, 10]


@pytest.mark.parametrize("policy", ["lru", "most_used"])
def test_limits(policy: str) -> None:
    total = 16
    assert offchip_weight_bits_per_frame(ABC, total, policy, 3) == [total, 0, 0]
    assert offchip_weight_bits_per_frame(ABC, 100, policy, 3) == [total, 0, 0]
    assert offchip_weight_bits_per_frame(ABC, 0, policy, 3) == [total] * 3
    with pytest.raises(ValueError):
        offchip_weight_bits_per_frame(ABC, 8, "fifo", 3)  # type: ignore[arg-type]


def test_resnet34_blocks_hold_exactly_its_weights() -> None:
    net = get_network("resnet34").at(224, 224)
    blocks = block_sizes(net, fmpus=16)
    # torchvision resnet34: conv + fc weights, no BN or bias: 21,779,648.
    assert sum(b[2] for b in blocks) == 21_779_648 == net.weights
    assert sum(b[2] for b in block_sizes(net, fmpus=16, weight_bits=2)) == 2 * 21_779_648
    per_layer: dict[str, int] = {}
    for name, _, bits in blocks:
        per_layer[name] = per_layer.get(name, 0) + bits
    assert per_layer == {i.layer.name: i.weights for i in net.infos if i.weights}
    assert len(block_uses(net, 16, 7, 7)) == len(blocks)
    assert blocks[0] == ("conv1", 0, 16 * 3 * 7 * 7)
    assert blocks[-1] == ("fc", 62, 8 * 512)  # 1000 = 62 * 16 + 8 outputs


def test_resnet34_cache_curve() -> None:
    net = get_network("resnet34").at(224, 224)
    total = 21_779_648
    caps = [0, 1 << 20, 4 << 20, 8 << 20, 16 << 20, total - 1, total]
    pinned = cache_curve(net, 16, caps, "most_used")
    bits = [p.offchip_bits_per_frame for p in pinned]
    assert bits[0] == total and bits[-1] == 0
    assert all(np.diff(bits) <= 0)  # monotone non-increasing in capacity
    # Blocks are small (<= 72 kbit) next to these caches: pinning saves almost the capacity.
    for p in pinned[1:-2]:
        assert total - p.offchip_bits_per_frame > p.capacity_bits - 73_728
        assert p.hit_fraction == pytest.approx(1 - p.offchip_bits_per_frame / total)
    lru = cache_curve(net, 16, caps, "lru")
    assert [p.offchip_bits_per_frame for p in lru] == [total] * (len(caps) - 1) + [0]
