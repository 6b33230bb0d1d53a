"""Fused pooling (``chip.fuse_pooling``): memory, FMM traffic and cycles of a conv + pool pair.

The rule (docs/model.md, "Fused pooling"): a conv read only by the next layer, a pool, keeps
in the FMM only the outputs a neighbour's pool window or one of its own border pool windows
reads; the rest is pooled as each weight block is computed. The pooled output is held from
the conv on; cycles and compare/adds are those of the unfused pair. Expected values are
derived by hand in the comments.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from hyperdrive_sim.evaluators import analytic, des
from hyperdrive_sim.limits import MAX_BUFFER_BLOCKS
from hyperdrive_sim.mapping.fit import fmm_peak, smallest_mesh
from hyperdrive_sim.mapping.plan import Plan
from hyperdrive_sim.planner import build_plan
from hyperdrive_sim.simulate import simulate
from hyperdrive_sim.spec.defaults import default_section
from hyperdrive_sim.spec.hardware import Hardware
from hyperdrive_sim.spec.models import ChipSpec, EnergyTable, Mesh, SystemSpec
from hyperdrive_sim.workload.builder import NetBuilder

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CHIP = default_section("chip")
FUSED = CHIP.model_copy(update={"fuse_pooling": True})
SYSTEM = default_section("system")
ENERGY = default_section("energy")
FP16 = 16


def _hw(chip: ChipSpec, mesh: str, system: SystemSpec = SYSTEM) -> Hardware:
    return Hardware(chip, system, ENERGY, Mesh.model_validate(mesh))


def _conv_pool(pool_k: int, pool_stride: int, pool_pad: int) -> NetBuilder:
    """16-channel image -> conv 3x3 stride 1 pad 1, 16 channels -> max pool."""
    b = NetBuilder("conv_pool", input_channels=16)
    b.conv(16, 3, name="conv")
    b.pool(pool_k, pool_stride, pad=pool_pad, name="pool")
    return b


def _both(b: NetBuilder, side: int, mesh: str) -> tuple[Plan, Plan]:
    net = b.build().at(side, side)
    return build_plan(net, _hw(CHIP, mesh)), build_plan(net, _hw(FUSED, mesh))


def test_default_chip_does_not_fuse() -> None:
    # the preset states fuse_pooling: false; golden results (test_golden.py) pin the rest
    assert CHIP.fuse_pooling is False
    assert "assumption" in CHIP.sources["fuse_pooling"]


def test_one_chip_conv_then_2x2_pool_by_hand() -> None:
    plain, fused = _both(_conv_pool(2, 2, 0), 8, "1x1")
    image = 8 * 8 * 16 * FP16  # 16,384 bits, live until the conv has run
    conv_out = 8 * 8 * 16 * FP16  # 16,384
    pooled = 4 * 4 * 16 * FP16  # 4,096
    # unfused: conv holds image + its output; the pool holds the conv output + pooled
    assert [lp.fmm_need_bits.tolist() for lp in plain.layers] == [
        [image + conv_out],  # 32,768: the peak
        [conv_out + pooled],  # 20,480
    ]
    # fused on one chip: no neighbour, no border window, so no conv output is kept; the
    # pooled output is written while the conv runs
    assert [lp.fmm_need_bits.tolist() for lp in fused.layers] == [
        [image + pooled],  # 20,480: the peak
        [pooled],  # 4,096
    ]
    p_conv, p_pool = (lp.work for lp in plain.layers)
    f_conv, f_pool = (lp.work for lp in fused.layers)
    assert p_conv.fmm_write_bits.tolist() == [conv_out] and f_conv.fmm_write_bits.tolist() == [0]
    # the pool reads 4 window values per output: 4*4*16*4*16 = 16,384 bits unfused, none fused
    assert p_pool.fmm_read_bits.tolist() == [16_384] and f_pool.fmm_read_bits.tolist() == [0]
    assert p_pool.fmm_write_bits.tolist() == f_pool.fmm_write_bits.tolist() == [pooled]
    # cycles are not hidden: conv 1 block x ceil(8/7)^2 = 4 pixel steps x 16*9 taps = 576;
    # pool 16 channels x ceil(4/7)^2 = 1 x 4 window elements = 64; adds 4*4*16*4 = 1,024
    assert [lp.work.cycles.tolist() for lp in fused.layers] == [[576], [64]]
    assert [lp.work.cycles.tolist() for lp in plain.layers] == [[576], [64]]
    assert f_pool.fp16_adds.tolist() == p_pool.fp16_adds.tolist() == [1024]
    assert f_conv.fmm_read_bits.tolist() == p_conv.fmm_read_bits.tolist()


def test_two_chips_keep_the_halo_and_border_rows_by_hand() -> None:
    # pool 3x3 stride 2 pad 1 on the 8x8 conv output: 4x4 pooled. Over 2x1 chips the conv
    # rows split [0,4) | [4,8) and the pooled rows [0,2) | [2,4). Pooled row o reads conv
    # rows [2o-1, 2o+2) clipped: 0:[0,2) 1:[1,4) 2:[3,6) 3:[5,8).
    # chip 0: its windows stay in its rows (no border row); chip 1's windows read its row 3
    #   -> keeps 1 row x 8 columns = 8 pixels (sent as chip 1's halo).
    # chip 1: pooled row 2 reads row 3 (chip 0's) -> border row; it keeps its own rows 4, 5
    #   for that window; chip 0 reads none of its rows -> keeps 2 x 8 = 16 pixels.
    plain, fused = _both(_conv_pool(3, 2, 1), 8, "2x1")
    row = 8 * 16 * FP16  # one conv output row of 8 pixels x 16 channels: 2,048 bits
    f_conv, f_pool = fused.layers
    assert f_conv.work.fmm_write_bits.tolist() == [1 * row, 2 * row]
    assert plain.layers[0].work.fmm_write_bits.tolist() == [4 * row, 4 * row]
    # the pool's halo is unchanged: chip 1 receives conv row 3 from chip 0
    assert f_pool.halo_bits.sum(axis=1).tolist() == [0, row]
    assert np.array_equal(f_pool.halo_bits, plain.layers[1].halo_bits)
    # FMM need. image share 4 rows x 8 x 16 ch = 8,192 bits; the conv's halo (one image row
    # from off-chip) 2,048; pooled share 2 rows x 4 x 16 ch = 2,048
    image, conv_halo, pooled = 4 * row, row, 2 * 4 * 16 * FP16
    assert f_conv.fmm_need_bits.tolist() == [
        image + row + pooled + conv_halo,  # 14,336
        image + 2 * row + pooled + conv_halo,  # 16,384
    ]
    assert f_pool.fmm_need_bits.tolist() == [
        row + pooled,  # 4,096
        2 * row + pooled + row,  # 8,192: kept rows, pooled, received halo row
    ]
    # unfused: image + full conv share (4 rows) + halo; then conv share + pooled (+ halo)
    assert plain.layers[0].fmm_need_bits.tolist() == [image + 4 * row + conv_halo] * 2
    assert plain.layers[1].fmm_need_bits.tolist() == [4 * row + pooled, 4 * row + pooled + row]
    # pool reads: only chip 1's border pooled row (1 x 4 outputs x 16 ch x 9 taps x 16 bits
    # = 9,216) is pooled from the FMM; unfused every output: 2*4*16*9*16 = 18,432 per chip
    assert f_pool.work.fmm_read_bits.tolist() == [0, 9216]
    assert plain.layers[1].work.fmm_read_bits.tolist() == [18_432, 18_432]
    for f, p in zip(fused.layers, plain.layers, strict=True):
        assert np.array_equal(f.work.cycles, p.work.cycles), f.name
        assert np.array_equal(f.phase_border_cycles, p.phase_border_cycles), f.name


def test_no_fusion_when_the_conv_has_another_reader_or_the_pool_is_not_next() -> None:
    b = NetBuilder("shared", input_channels=16)
    x = b.conv(16, 3, name="conv")
    b.pool(2, name="pool")
    b.conv(16, 1, src=x, name="other")  # a second reader of the conv's full map
    c = NetBuilder("apart", input_channels=16)
    y = c.conv(16, 3, name="conv")
    c.conv(16, 3, src="input", name="between")
    c.pool(2, src=y, name="pool")  # not the next layer
    c.add("pool", c.conv(16, 1, stride=2, src="between"))
    for builder in (b, c):
        plain, fused = _both(builder, 8, "2x2")
        for f, p in zip(fused.layers, plain.layers, strict=True):
            assert np.array_equal(f.fmm_need_bits, p.fmm_need_bits), f.name
            assert np.array_equal(f.work.fmm_write_bits, p.work.fmm_write_bits), f.name
            assert np.array_equal(f.work.fmm_read_bits, p.work.fmm_read_bits), f.name


def test_resnet34_1080p_fits_a_smaller_mesh_when_fused() -> None:
    # one chip, unfused, peak at 'maxpool': conv1's 540x960x64 FP16 output (530,841,600
    # bits) + the pooled 270x480x64 (132,710,400) = 663,552,000 bits
    one = _hw(CHIP, "1x1")
    net = _resnet34_1080p()
    assert fmm_peak(net, one) == (663_552_000, "maxpool", (0, 0))
    # fused, the stem holds the image 1080x1920x3 (99,532,800) + pooled (132,710,400); the
    # peak moves to layer1.0.conv2: three 270x480x64 maps (the residual, conv1's output and
    # its own) = 3 x 132,710,400 = 398,131,200 bits
    assert fmm_peak(net, _hw(FUSED, "1x1")) == (398_131_200, "layer1.0.conv2", (0, 0))
    # lower bounds: 663.6 Mbit / 6.4 Mbit per chip -> >= 104 chips (11x11); 398.1 Mbit ->
    # >= 63 chips (8x8); halos and uneven shares push the fused one to 9x9
    assert smallest_mesh("resnet34", "1920x1080", chip=CHIP) == Mesh(rows=11, cols=11)
    assert smallest_mesh("resnet34", "1920x1080", chip=FUSED) == Mesh(rows=9, cols=9)
    assert fmm_peak(net, _hw(FUSED, "8x8")).bits > FUSED.fmm_bits


def _resnet34_1080p():
    from hyperdrive_sim.simulate import resolve_network

    return resolve_network("resnet34").at(1080, 1920)


def _contention_free(mesh: str) -> Hardware:
    """The presets with bandwidths so high every transfer takes one cycle, no latency and
    a weight buffer with room for every block (as in test_des_properties.py)."""
    chip_d = yaml.safe_load((CONFIGS / "chips/hyperdrive.yaml").read_text())
    system_d = yaml.safe_load((CONFIGS / "systems/hyperdrive_mesh.yaml").read_text())
    chip_d |= {"fuse_pooling": True, "fmm_bits": 10**12, "weight_buffer_blocks": MAX_BUFFER_BLOCKS}
    system_d |= {
        "offchip_bandwidth_gbps": 1e6,
        "link_bandwidth_gbps": 1e6,
        "offchip_latency_ns": 0,
        "link_latency_ns": 0,
    }
    energy = yaml.safe_load((CONFIGS / "energy/hyperdrive_22fdx.yaml").read_text())
    return Hardware(
        ChipSpec.model_validate(chip_d),
        SystemSpec.model_validate(system_d),
        EnergyTable.model_validate(energy),
        Mesh.model_validate(mesh),
    )


def test_simpy_agrees_with_analytic_when_fused_and_contention_free() -> None:
    b = NetBuilder("fused", input_channels=16)
    b.conv(32, 3)
    b.pool(3, 2, pad=1)  # halo between chips: kept rows are exchanged
    b.conv(64, 3)
    b.pool(2, mode="avg")
    hw = _contention_free("3x2")
    net = b.build().at(72, 72)
    plan = build_plan(net, hw)
    assert plan.fits, plan.reason
    assert plan.layers[1].halo_bits.any()
    a, s = analytic.evaluate(plan), des.evaluate(plan)
    # the exact fields of test_des_properties.py are fixed by the plan, not by timing
    for name in ("macs", "fp16_adds", "fmm_read_bits", "fmm_write_bits", "busy_cycles",
                 "c2c_border_bits", "offchip_weight_bits"):  # fmt: skip
        assert np.array_equal(getattr(a, name), getattr(s, name)), name
    # conv1: 2 blocks x ceil(36/7)^2 = 36 pixel steps x 144 taps = 10,368 cycles per chip at
    # least, so 0.5% covers the one-cycle transfers the analytic evaluator ignores
    assert a.total_cycles > 10_368
    assert a.total_cycles <= s.total_cycles <= 1.005 * a.total_cycles
    # fusion changes no cycle: the analytic total equals the unfused plan's
    plain = build_plan(net, replace_chip(hw, fuse_pooling=False))
    assert analytic.evaluate(plain).total_cycles == a.total_cycles


def replace_chip(hw: Hardware, **update) -> Hardware:
    return Hardware(hw.chip.model_copy(update=update), hw.system, hw.energy, hw.mesh)


def test_fused_resnet18_conserves_ops_adds_and_saves_fmm_writes() -> None:
    plain = simulate("resnet18", "224x224", CHIP, SYSTEM, ENERGY, mesh="2x2")
    fused = simulate("resnet18", "224x224", FUSED, SYSTEM, ENERGY, mesh="2x2")
    assert plain.fits and fused.fits
    net = fused.plan.network
    # ops: the per-chip MACs add up to the network's, layer by layer (test_conservation.py)
    assert int(fused.counts.macs.sum()) == net.macs
    assert fused.row["ops"] == 2 * net.macs
    # the pooling compares are still done, and cycles are the same
    assert np.array_equal(fused.counts.fp16_adds, plain.counts.fp16_adds)
    assert np.array_equal(fused.counts.busy_cycles, plain.counts.busy_cycles)
    # FMM writes: only conv1 and maxpool differ. Unfused conv1 writes its 112x112x64 FP16
    # output (12,845,056 bits); fused it writes only the kept pixels
    names = list(fused.counts.layer_names)
    i = names.index("conv1")
    kept = fused.plan.layers[i].work.fmm_write_bits
    assert int(plain.counts.fmm_write_bits[i].sum()) == 112 * 112 * 64 * FP16
    saved = plain.counts.fmm_write_bits.sum() - fused.counts.fmm_write_bits.sum()
    assert int(saved) == 112 * 112 * 64 * FP16 - int(kept.sum())
    # kept: 2x2 chips, 3x3/2 pad 1 pool on 112 rows split 56|56, pooled 56 split 28|28;
    # pooled row 28 reads conv rows 55..57: the lower chips keep rows 56, 57 (their border
    # window), the upper ones keep row 55 (their neighbour's halo); same for columns. An
    # upper-left chip keeps row 55 x 56 cols + col 55 x 56 rows - 1 = 111 pixels; a
    # lower-right one 2 x 56 + 2 x 56 - 4 = 220; the mixed ones 56 + 2*56 - 2 = 166
    assert (kept // (64 * FP16)).tolist() == [111, 166, 166, 220]
