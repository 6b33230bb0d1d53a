"""Techniques of other binary-NN accelerators as Hyperdrive options (issue: techniques).

Expected values are derived by hand in the comments from the cost rules of docs/model.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hyperdrive_sim.pricing.memory import macro_cost
from hyperdrive_sim.simulate import simulate
from hyperdrive_sim.spec import loader
from hyperdrive_sim.spec.memory import load_memory_table
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, SystemSpec
from hyperdrive_sim.workload.builder import NetBuilder

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CHIP = loader.validate(ChipSpec, loader.load(CONFIGS / "chips/hyperdrive.yaml"))
SYSTEM = loader.validate(SystemSpec, loader.load(CONFIGS / "systems/hyperdrive_mesh.yaml"))
ENERGY = loader.validate(EnergyTable, loader.load(CONFIGS / "energy/hyperdrive_22fdx.yaml"))


def chip(**kw) -> ChipSpec:
    return CHIP.model_copy(update=kw)


def two_convs():
    # 3x16x16 image -> conv a (8 ch, 3x3) -> conv b (8 ch, 3x3); b is the network output.
    b = NetBuilder("two_convs", input_channels=3)
    b.conv(8, 3, name="a")
    b.conv(8, 3, name="b")
    return b.build()


def run(net, c: ChipSpec, mesh="1x1", evaluator="analytic", size="16x16"):
    return simulate(net, size, c, SYSTEM, ENERGY, mesh=mesh, evaluator=evaluator)


# ---------------------------------------------------------------- binary activations


def test_binary_maps_shrink_memory_and_halos_16x():
    net = two_convs()
    fp = run(net, chip(), mesh="2x2")
    bn = run(net, chip(activation_mode="binary"), mesh="2x2")
    # Layer b reads a's output (8 channels): FP16 in the original, 1 bit in binary mode.
    halo_fp = fp.plan.layers[1].halo_bits.sum()
    halo_bn = bn.plan.layers[1].halo_bits.sum()
    assert halo_fp == 16 * halo_bn
    # The image (layer a's input) keeps FP16 with binary_keep_first_last.
    assert (fp.plan.image_in_bits == bn.plan.image_in_bits).all()
    # At layer a, each chip holds its image tile (3x8x8 at 16 bit = 3072), a's output tile
    # (8x8x8) and the image halo: 1 row + 1 column + corner of 3 channels = 17*3*16 = 816.
    assert int(fp.plan.layers[0].fmm_need_bits[0]) == 3072 + 8 * 64 * 16 + 816
    assert int(bn.plan.layers[0].fmm_need_bits[0]) == 3072 + 8 * 64 * 1 + 816


def test_binary_mode_prices_xnor_macs_and_keeps_first_layer_fp16():
    net = two_convs()
    bn = run(net, chip(activation_mode="binary"))
    c = bn.counts
    # layer a reads the FP16 image: ordinary MACs; layer b reads 1-bit maps: XNOR MACs.
    macs_a = 16 * 16 * 8 * 3 * 9
    macs_b = 16 * 16 * 8 * 8 * 9
    assert int(c.xnor_macs[0].sum()) == 0
    assert int(c.xnor_macs[1].sum()) == macs_b
    core = bn.energy.totals["core"]
    expected = (macs_a * ENERGY.binary_mac_pj + macs_b * ENERGY.xnor_mac_pj) * 1e-12
    assert core == pytest.approx(expected, rel=1e-12)
    # without keep_first_last the image is binary too: 16x fewer image bits
    all_binary = run(net, chip(activation_mode="binary", binary_keep_first_last=False))
    assert all_binary.plan.image_in_bits.sum() * 16 == bn.plan.image_in_bits.sum()
    assert int(all_binary.counts.xnor_macs[0].sum()) == macs_a


def test_binary_resnet34_fits_on_fewer_chips():
    fp = run("resnet34", chip(), mesh="1x1", size="224x224")
    bn = run("resnet34", chip(activation_mode="binary"), mesh="1x1", size="224x224")
    # FP16: conv1's 64x112x112 output alone is 12.8 Mbit > 6.4 Mbit; binary: 0.8 Mbit.
    assert not fp.fits and bn.fits


# ---------------------------------------------------------------- scaling factors


def test_scaling_factors_add_one_multiply_per_output_and_a_cycle_per_step():
    net = two_convs()
    base = run(net, chip())
    scaled = run(net, chip(scaling_factors=True))
    # each conv writes 8x16x16 values; one multiply each
    assert int(scaled.counts.fp16_muls.sum()) == 2 * 8 * 16 * 16
    # per conv: 1 block (8 <= C=16) x ceil(16/7)^2 = 9 pixel steps = 9 extra cycles
    extra = scaled.counts.busy_cycles.sum() - base.counts.busy_cycles.sum()
    assert extra == 2 * 9
    assert scaled.energy.totals["core"] - base.energy.totals["core"] == pytest.approx(
        2 * 8 * 16 * 16 * ENERGY.fp16_mul_pj * 1e-12
    )


# ---------------------------------------------------------------- kernel reuse


def test_identical_kernels_cost_one_kernel_plus_an_add(tmp_path):
    # 1 conv, 16 output channels, all kernels equal (n = 3*9 = 27 taps). The MST reuses the
    # root for the other 15: each costs its Hamming distance 0 + 1 add per pixel, so the
    # layer costs 27 + 15 instead of 16*27 adds per pixel: saved = 1 - 42/432.
    b = NetBuilder("dup", input_channels=3)
    b.conv(16, 3, name="c")
    kernel = np.where(np.random.default_rng(1).random((1, 3, 3, 3)) < 0.5, -1, 1)
    np.savez(tmp_path / "w.npz", c=np.repeat(kernel, 16, axis=0))
    pruned = run(b.build(), chip(pruning="kernel_reuse", pruning_weights=str(tmp_path / "w.npz")))
    macs = 16 * 16 * 16 * 27
    assert int(pruned.counts.macs.sum()) == macs
    assert int(pruned.counts.skipped_macs.sum()) == round(macs * (1 - 42 / 432))


def test_kernel_reuse_saves_adds_but_costs_cycles_and_stream_with_random_weights():
    net = two_convs()
    base = run(net, chip())
    pruned = run(net, chip(pruning="kernel_reuse"))
    assert pruned.energy.totals["core"] < base.energy.totals["core"]
    # Each reusing kernel reads its parent's output: one cycle per pixel step, and the
    # block skips no position (random kernels), so busy cycles grow by reusing x 9 steps
    # (ceil(16/7)^2 = 9); the counts come from the plan's own reuse decisions.
    reusing = sum(_reusing(pruned, lp.name) for lp in pruned.plan.layers)
    extra = int(pruned.counts.busy_cycles.sum() - base.counts.busy_cycles.sum())
    assert reusing > 0 and extra == 9 * reusing
    # masks and parent fields make the weight stream longer, never shorter
    assert pruned.counts.offchip_weight_bits.sum() > base.counts.offchip_weight_bits.sum()
    assert pruned.row["ops"] == base.row["ops"], "ops per frame stay the network's ops"


def _reusing(result, name: str) -> int:
    from hyperdrive_sim.techniques.effects import weight_technique_effects

    return weight_technique_effects(result.plan.network, result.plan.hw.chip)[name].reusing


# ---------------------------------------------------------------- weight cache


@pytest.mark.parametrize("evaluator", ["analytic", "simpy"])
def test_a_cache_holding_every_weight_removes_weight_io(evaluator):
    net = two_convs()
    weights = (8 * 3 * 9) + (8 * 8 * 9)  # 216 + 576 bits
    base = run(net, chip(), evaluator=evaluator)
    cached = run(net, chip(weight_cache_bits=weights), evaluator=evaluator)
    assert int(base.counts.offchip_weight_bits.sum()) == weights
    assert int(cached.counts.offchip_weight_bits.sum()) == 0
    assert int(cached.counts.cache_read_bits.sum()) == weights
    assert cached.counts.total_cycles <= base.counts.total_cycles


def test_lru_thrashes_where_pinning_keeps_blocks():
    net = two_convs()
    # Blocks of 216 (layer a) and 576 bits (layer b) in a 600-bit cache: each fits, both do
    # not. LRU: a is evicted to make room for b, then b for a, every frame: 792 bits missed.
    # Pinning keeps a (the smaller, at equal use) and streams b: 576 bits.
    lru = run(net, chip(weight_cache_bits=600, weight_cache_policy="lru"))
    pin = run(net, chip(weight_cache_bits=600, weight_cache_policy="most_used"))
    assert int(lru.counts.offchip_weight_bits.sum()) == 792
    assert int(pin.counts.offchip_weight_bits.sum()) == 792 - 216


def test_cache_leakage_is_priced():
    net = two_convs()
    base = run(net, chip())
    cached = run(net, chip(weight_cache_bits=10_000_000))
    # one 10 Mbit cache macro more per chip (the memory table's leakage, from CACTI's Vdd
    # to the chip's, power law with leakage_voltage_exponent), for one frame interval
    corner = load_memory_table(ENERGY.memory_table).corners[ENERGY.memory_corner]
    macro = macro_cost(corner, CHIP.fmpus_per_tile * CHIP.weight_bits, 10_000_000)
    scale = (CHIP.point.voltage_v / corner.vdd_v) ** ENERGY.leakage_voltage_exponent
    latency = cached.counts.interval_cycles / (CHIP.point.frequency_mhz * 1e6)
    extra = cached.energy.totals["leakage"] - base.energy.totals["leakage"] * (
        cached.counts.interval_cycles / base.counts.interval_cycles
    )
    assert extra == pytest.approx(macro.leakage_mw * scale * 1e-3 * latency)
