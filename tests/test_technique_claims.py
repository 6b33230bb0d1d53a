"""The seeds' techniques with their costs: kernel reuse's extra stream bits and parent reads,
the kernel dictionary's size and savings, and the trivial ±1 baseline kernel reuse must beat.

Every expected value is derived by hand in the comments (or by an exact binomial sum).
"""

from __future__ import annotations

from math import comb
from pathlib import Path

import numpy as np
import pytest

from hyperdrive_sim.simulate import simulate
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, SystemSpec
from hyperdrive_sim.techniques.kernel_dictionary import index_bits, unique_windows
from hyperdrive_sim.techniques.kernel_reuse import layer_savings, trivial_cost
from hyperdrive_sim.workload.builder import NetBuilder

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CHIP = loader.validate(ChipSpec, loader.load(CONFIGS / "chips/hyperdrive.yaml"))
SYSTEM = loader.validate(SystemSpec, loader.load(CONFIGS / "systems/hyperdrive_mesh.yaml"))
ENERGY = loader.validate(EnergyTable, loader.load(CONFIGS / "energy/hyperdrive_22fdx.yaml"))


def one_conv(cin: int, cout: int):
    b = NetBuilder("one", input_channels=cin)
    b.conv(cout, 3, name="c")
    return b.build()


def run(net, tmp_path, w, **kw):
    np.savez(tmp_path / "w.npz", c=w)
    c = CHIP.model_copy(update={"pruning_weights": str(tmp_path / "w.npz"), **kw})
    return simulate(net, "4x4", c, SYSTEM, ENERGY, mesh="1x1", evaluator="analytic")


# ---------------------------------------------------------------- kernel reuse costs

# One input channel, three 3x3 kernels (n = 9): A all +1, B = A with one flip (d(A,B) = 1),
# C = -A (d(A,C) = 9, d(B,C) = 8). The MST from A: B reuses A at 1 + 1 = 2 adds; C's best
# edge is B at 8 + 1 = 9, not below n = 9, so C is computed from scratch.
A = np.ones((3, 3))
B = A.copy()
B[1, 1] = -1
TINY = np.stack([A, B, -A])[:, None]  # (3, 1, 3, 3)


def test_kernel_reuse_charges_masks_parent_fields_and_parent_reads(tmp_path):
    net = one_conv(1, 3)
    base = run(net, tmp_path, TINY)
    pruned = run(net, tmp_path, TINY, pruning="kernel_reuse")
    # Stream: every kernel a parent field of ceil(log2(3 + 1)) = 2 bits (6), B a 9-bit
    # difference mask: 27 plain bits + 15 = 42 (one block: 3 kernels <= C = 16).
    assert int(base.counts.offchip_weight_bits.sum()) == 27
    assert int(pruned.counts.offchip_weight_bits.sum()) == 42
    assert int(pruned.counts.wbuf_write_bits.sum()) == 42
    # Adds: 9 + 2 + 9 = 20 per pixel instead of 27, on 4x4 = 16 output pixels.
    assert int(pruned.counts.skipped_macs.sum()) == 16 * (27 - 20)
    # B reads A's FP16 output once per pixel: 16 x 16 bits more FMM reads, one more cycle
    # per pixel step (ceil(4/7)^2 = 1 step), and one mask bit next to each of its 9 weight
    # bits from the weight buffer (A is the root, so no position is skippable).
    extra = {k: int(getattr(pruned.counts, k).sum() - getattr(base.counts, k).sum())
             for k in ("fmm_read_bits", "busy_cycles", "wbuf_read_bits")}  # fmt: skip
    assert extra == {"fmm_read_bits": 16 * 16, "busy_cycles": 1, "wbuf_read_bits": 9}
    # energy includes the cost: 15 more bits at the off-chip price to one chip, the memory
    # and the chip's drop (1/4 x 4 pF x 1.2^2 V^2 = 1.44 pJ)
    io = pruned.energy.totals["offchip_io"] - base.energy.totals["offchip_io"]
    assert io == pytest.approx(15 * (ENERGY.offchip_pj_per_bit + 1.44) * 1e-12)


def test_trivial_baseline_beats_reuse_on_the_tiny_layer():
    # S = sum(x) costs 9; A has 9 plus-ones: min(9, 0) + 1 = 1; B 8: min(8, 1) + 1 = 2;
    # C none: 0 + 1 = 1. Trivial = 9 + 4 = 13 adds per pixel against reuse's 20.
    assert trivial_cost(TINY.reshape(3, 9)) == 13
    net = one_conv(1, 3).at(4, 4)
    (s,) = layer_savings(net, {"c": TINY})
    assert (s.macs, s.macs_pruned, s.macs_trivial) == (16 * 27, 16 * 20, 16 * 13)
    assert s.saved_vs_trivial == pytest.approx(1 - 20 / 13)
    assert (s.reusing, s.parents, s.extra_weight_bits) == (1, 1, 15)


def test_trivial_baseline_saves_about_half_of_random_kernels():
    # E[min(p, n - p) + 1] over p ~ Binomial(n, 1/2), by an exact sum; trivial adds per
    # pixel = n + K * that (below K * n here), so saved = 1 - (n + K * e) / (K * n).
    n, k = 64 * 9, 64
    e = sum(comb(n, p) * (min(p, n - p) + 1) for p in range(n + 1)) / 2**n
    expected = 1 - (n + k * e) / (k * n)
    rng = np.random.default_rng(0)
    draws = [trivial_cost(rng.integers(0, 2, (k, n)) * 2 - 1) for _ in range(20)]
    saved = 1 - np.mean(draws) / (k * n)
    assert saved == pytest.approx(expected, abs=0.002)
    assert 0.47 < expected < 0.50  # "about 50%": the bar a reuse scheme has to clear


# ---------------------------------------------------------------- kernel dictionary


def patterned_weights() -> np.ndarray:
    # 4 kernels x 2 input channels = 8 windows of 3x3 using 3 patterns: P0 four times,
    # P1 three times, P2 once.
    p0 = np.ones((3, 3))
    p1 = -p0
    p2 = np.array([[1, -1, 1], [-1, 1, -1], [1, -1, 1]])
    order = [p0, p1, p0, p0, p1, p2, p1, p0]
    return np.stack(order).reshape(4, 2, 3, 3)


def test_dictionary_size_of_a_tensor_with_repeated_patterns(tmp_path):
    w = patterned_weights()
    assert unique_windows(w.reshape(-1, 9)) == 3
    assert index_bits(3) == 2 and index_bits(1) == 0 and index_bits(512) == 9
    net = one_conv(2, 4)
    base = run(net, tmp_path, w)
    coded = run(net, tmp_path, w, kernel_dictionary_bits=27)
    # dictionary 3 x 9 = 27 bits + 8 windows x 2-bit index = 43 bits instead of 72
    assert int(base.counts.offchip_weight_bits.sum()) == 72
    assert int(coded.counts.offchip_weight_bits.sum()) == 43
    assert int(coded.counts.wbuf_write_bits.sum()) == 43
    # the buffer is read once per window and pixel step for its index: 8 x 2 bits more
    assert int(coded.counts.wbuf_read_bits.sum() - base.counts.wbuf_read_bits.sum()) == 16
    # a store one bit too small cannot hold the dictionary: plain stream
    small = run(net, tmp_path, w, kernel_dictionary_bits=26)
    assert int(small.counts.offchip_weight_bits.sum()) == 72


def test_dictionary_saves_nothing_when_every_kernel_is_unique(tmp_path):
    # 8 distinct windows: the dictionary alone is 8 x 9 = 72 bits, the plain size, and the
    # indices (3 bits each) come on top: the layer streams its kernels as before.
    codes = np.arange(8)[:, None] >> np.arange(9)[None, :] & 1
    w = (codes * 2 - 1).reshape(4, 2, 3, 3)
    assert unique_windows(w.reshape(-1, 9)) == 8
    net = one_conv(2, 4)
    base = run(net, tmp_path, w)
    coded = run(net, tmp_path, w, kernel_dictionary_bits=4608)
    for key in ("offchip_weight_bits", "wbuf_write_bits", "wbuf_read_bits", "busy_cycles"):
        assert int(getattr(coded.counts, key).sum()) == int(getattr(base.counts, key).sum())
    assert coded.energy.total_j == pytest.approx(base.energy.total_j, rel=1e-12)


def test_dictionary_store_is_priced_as_weight_buffer_area(tmp_path):
    from hyperdrive_sim.spec.area import AreaTable

    table = loader.validate(AreaTable, loader.load(CONFIGS / "area/hyperdrive_22fdx.yaml"))
    net = one_conv(2, 4)
    base = run(net, tmp_path, patterned_weights())
    coded = run(net, tmp_path, patterned_weights(), kernel_dictionary_bits=4608)
    assert base.area is not None and coded.area is not None
    extra = coded.area.weight_buffer - base.area.weight_buffer
    assert extra == pytest.approx(4.608 * table.wbuf_mm2_per_kbit)
